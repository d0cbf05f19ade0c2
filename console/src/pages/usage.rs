pub async fn log() -> &'static str { "todo" }
pub async fn csv() -> &'static str { "todo" }
