//! The console's page, carried in the binary: courts' networks are closed,
//! so nothing is fetched from anywhere else and nothing is built on the
//! operator's side. Plain HTML, CSS and JavaScript, in Chinese and English.

/// The content type and bytes of the asset named `file`.
pub fn get(file: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match file {
        "index.html" => (
            "text/html; charset=utf-8",
            include_bytes!("../assets/index.html").as_slice(),
        ),
        "console.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/console.js").as_slice(),
        ),
        "console.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/console.css").as_slice(),
        ),
        "favicon.svg" => (
            "image/svg+xml",
            include_bytes!("../assets/favicon.svg").as_slice(),
        ),
        _ => return None,
    })
}
