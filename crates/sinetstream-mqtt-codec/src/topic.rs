//! Topic names, topic filters and matching one against the other (MQTT 3.1.1 §4.7).

/// Why a topic name or filter is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Topic names and filters must be at least one character long [MQTT-4.7.3-1].
    #[error("topic is empty")]
    Empty,
    /// Longer than the 65535 bytes a string field can hold [MQTT-4.7.3-3].
    #[error("topic of {0} bytes is longer than 65535 bytes")]
    TooLong(usize),
    /// Contains U+0000 [MQTT-4.7.3-2].
    #[error("topic contains the null character U+0000")]
    NullCharacter,
    /// `+` or `#` in a topic name, where wildcards are not allowed [MQTT-3.3.2-2].
    #[error("topic name contains a wildcard character")]
    WildcardInName,
    /// `#` not alone as the last level, or `+` sharing a level with other characters
    /// [MQTT-4.7.1-2, MQTT-4.7.1-3].
    #[error("wildcard does not occupy a whole topic level, or '#' is not last")]
    MisplacedWildcard,
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > usize::from(u16::MAX) {
        return Err(TopicError::TooLong(topic.len()));
    }
    if topic.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Checks a topic name, as used in PUBLISH and in a will: non-empty, at most
/// 65535 bytes, no U+0000 and no wildcards.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    check_common(name)?;
    if name.contains(['+', '#']) {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter, as used in SUBSCRIBE and UNSUBSCRIBE: like a topic
/// name, but `+` may fill a whole level and `#` may fill the last level.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        let bad_hash = level.contains('#') && (level != "#" || !is_last);
        let bad_plus = level.contains('+') && level != "+";
        if bad_hash || bad_plus {
            return Err(TopicError::MisplacedWildcard);
        }
    }
    Ok(())
}

/// Whether a message published to topic `name` is delivered to a subscription on `filter`.
///
/// Follows MQTT 3.1.1 §4.7: `+` matches exactly one level (which may be
/// empty), `#` matches the parent level and any number of children, and a
/// filter starting with a wildcard does not match a name starting with `$`
/// [MQTT-4.7.2-1], so `#` does not receive `$SYS/...`.
///
/// Returns `false` if `filter` is not a valid filter or `name` not a valid name.
///
/// ```
/// use sinetstream_mqtt_codec::topic_matches;
///
/// assert!(topic_matches("sport/tennis/#", "sport/tennis"));
/// assert!(topic_matches("sport/+/player1", "sport/tennis/player1"));
/// assert!(topic_matches("+/+", "/finance"));
/// assert!(!topic_matches("sport/+", "sport/tennis/player1"));
/// assert!(!topic_matches("#", "$SYS/uptime"));
/// assert!(topic_matches("$SYS/#", "$SYS/uptime"));
/// ```
pub fn topic_matches(filter: &str, name: &str) -> bool {
    if validate_topic_filter(filter).is_err() || validate_topic_name(name).is_err() {
        return false;
    }
    if name.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut name_levels = name.split('/');
    loop {
        match (filter_levels.next(), name_levels.next()) {
            // `#` also matches the parent: "a/#" matches "a" [MQTT-4.7.1-2 note].
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(n)) if f == n => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_topic_name("a/b/c"), Ok(()));
        assert_eq!(validate_topic_name("/"), Ok(()));
        assert_eq!(validate_topic_name(" "), Ok(()));
        assert_eq!(validate_topic_name("$SYS/x"), Ok(()));
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a#b"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a\0"), Err(TopicError::NullCharacter));
        let long = "a".repeat(65_536);
        assert_eq!(validate_topic_name(&long), Err(TopicError::TooLong(65_536)));
        assert_eq!(validate_topic_name(&long[1..]), Ok(()));
    }

    #[test]
    fn filters() {
        for ok in [
            "#", "+", "+/+", "a/#", "a/+/b", "/+", "+/", "a//#", "$SYS/#", "/",
        ] {
            assert_eq!(validate_topic_filter(ok), Ok(()), "{ok}");
        }
        for bad in ["a#", "a/#/b", "#/", "a+", "a/b+/c", "++", "##", "+#"] {
            assert_eq!(
                validate_topic_filter(bad),
                Err(TopicError::MisplacedWildcard),
                "{bad}"
            );
        }
        assert_eq!(validate_topic_filter(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_filter("#\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn matching_follows_spec_examples() {
        // §4.7.1.2
        for name in [
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport/tennis/player1/score/wimbledon",
        ] {
            assert!(topic_matches("sport/tennis/player1/#", name), "{name}");
        }
        assert!(topic_matches("sport/#", "sport"));
        assert!(topic_matches("#", "sport/tennis"));
        assert!(topic_matches("#", "/"));
        // §4.7.1.3
        assert!(topic_matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(topic_matches("sport/tennis/+", "sport/tennis/player2"));
        assert!(!topic_matches(
            "sport/tennis/+",
            "sport/tennis/player1/ranking"
        ));
        assert!(!topic_matches("sport/+", "sport"));
        assert!(topic_matches("sport/+", "sport/"));
        assert!(topic_matches("+/+", "/finance"));
        assert!(topic_matches("/+", "/finance"));
        assert!(!topic_matches("+", "/finance"));
        assert!(topic_matches("+", "finance"));
        // Exact levels only, case-sensitive.
        assert!(topic_matches("a/b", "a/b"));
        assert!(!topic_matches("a/b", "a/B"));
        assert!(!topic_matches("a/b", "a/b/"));
        assert!(!topic_matches("a/b/c", "a/b"));
    }

    #[test]
    fn dollar_topics_need_a_literal_first_level() {
        assert!(!topic_matches("#", "$SYS/monitor/Clients"));
        assert!(!topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(topic_matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(topic_matches("$SYS", "$SYS"));
        // Only the first level counts.
        assert!(topic_matches("a/+", "a/$b"));
    }

    #[test]
    fn invalid_inputs_never_match() {
        assert!(!topic_matches("a#", "a#"));
        assert!(!topic_matches("a/+", "a/+"));
        assert!(!topic_matches("", ""));
    }
}
