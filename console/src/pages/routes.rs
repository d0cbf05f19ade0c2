pub async fn list() -> &'static str { "todo" }
pub async fn create() -> &'static str { "todo" }
pub async fn edit() -> &'static str { "todo" }
pub async fn update() -> &'static str { "todo" }
pub async fn delete() -> &'static str { "todo" }
