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

#[cfg(test)]
mod tests {
    use mediation_core::alert::AlertKind;
    use mediation_core::lifecycle::Status;

    /// Every status and alert kind has a name in both of the page's
    /// languages, so that neither shows a code name such as
    /// `returned_to_court`.
    #[test]
    fn the_page_names_every_status_and_alert_kind_in_both_languages() {
        let script = std::str::from_utf8(super::get("console.js").unwrap().1).unwrap();
        let chinese = script
            .find("  zh: {")
            .expect("console.js has a Chinese table");
        let (en, zh) = script.split_at(chinese);
        let statuses = Status::ALL.map(|s| format!("'status.{}'", s.as_str()));
        let kinds = AlertKind::ALL.map(|k| format!("'kind.{}'", k.as_str()));
        for key in statuses.iter().chain(&kinds) {
            assert!(en.contains(key.as_str()), "console.js has no English {key}");
            assert!(zh.contains(key.as_str()), "console.js has no Chinese {key}");
        }
    }
}
