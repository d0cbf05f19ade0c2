use crate::support::TestServer;

/// The curl example in README.md works as written against a real server.
#[tokio::test]
async fn the_readme_curl_example_works() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let block = readme
        .split("<!-- readme-example:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- readme-example:end -->").next())
        .expect("README has the marked example");
    let script: String = block
        .lines()
        .filter(|line| !line.starts_with("```"))
        // The reader sets these two by hand; the test sets them through the environment.
        .filter(|line| !line.starts_with("TOLLGATE=") && !line.starts_with("PASSWORD="))
        .map(|line| format!("{line}\n"))
        .collect();

    let password = "readme-password-1";
    let server = TestServer::start_with_admin("admin@localhost", password).await;
    let workdir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(workdir.path())
        .env("TOLLGATE", &server.base)
        .env("PASSWORD", password)
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
}
