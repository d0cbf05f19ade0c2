pub async fn list() -> &'static str { "todo" }
pub async fn add() -> &'static str { "todo" }
pub async fn change_role() -> &'static str { "todo" }
pub async fn remove() -> &'static str { "todo" }
pub async fn create_tenant() -> &'static str { "todo" }
