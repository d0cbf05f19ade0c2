use tollgate_testkit::TestServer;
use tollgate_testkit::{start_proxy, Behaviour, Upstream};

/// Variables the README asks the reader to set; the test sets them through the environment.
const READER_SETS: [&str; 6] = [
    "TOLLGATE=",
    "PASSWORD=",
    "PROXY=",
    "UPSTREAM=",
    "PROVIDER_URL=",
    "PROVIDER_KEY=",
];

/// The curl examples in README.md work as written against a real server and proxy.
#[tokio::test]
async fn the_readme_curl_examples_work() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let script: String = readme
        .split("<!-- readme-example:start -->")
        .skip(1)
        .filter_map(|rest| rest.split("<!-- readme-example:end -->").next())
        .flat_map(str::lines)
        .filter(|line| !line.starts_with("```"))
        .filter(|line| !READER_SETS.iter().any(|var| line.starts_with(var)))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(script.contains("/routes"), "both examples were found");

    let password = "readme-password-1";
    let server = TestServer::start_with_admin("admin@localhost", password).await;
    let upstream = Upstream::start("orders-service", Behaviour::Echo).await;
    let (provider_url, _) = crate::ai::start_mock(false).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&server, dir.path()).await;
    let workdir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(workdir.path())
        .env("TOLLGATE", &server.base)
        .env("PASSWORD", password)
        .env("PROXY", format!("http://{}", proxy.traffic_addr()))
        .env("UPSTREAM", &upstream.url)
        .env("PROVIDER_URL", &provider_url)
        .env("PROVIDER_KEY", crate::ai::PROVIDER_KEY)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("\"email\":\"admin@localhost\""),
        "login: {stdout}"
    );
    assert!(stdout.contains("\"secret\":\"tg_"), "key: {stdout}");
    assert!(
        stdout.contains("\"amount_usd\":\"25.00\""),
        "budget: {stdout}"
    );
    assert!(stdout.contains("\"secret\":\"tga_"), "token: {stdout}");
    assert!(stdout.contains("\"name\":\"orders\""), "route: {stdout}");
    assert!(
        stdout.contains("\"upstream\":\"orders-service\""),
        "call through the proxy: {stdout}"
    );
    assert!(
        stdout.contains("\"path\":\"/42\""),
        "prefix stripped: {stdout}"
    );
    proxy.shutdown().await;
}
