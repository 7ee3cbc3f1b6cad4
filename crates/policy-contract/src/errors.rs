//! An error on one line, its causes after it (`a: b: c`): how both sides describe a failed
//! HTTP exchange. hyper's own message is only the outermost ("client error (Connect)", "tcp
//! connect error"); what an operator needs ("Connection refused") is in the sources. The
//! gateway's 502 answers, the admin client, the live harness's load driver and `policy ci`'s
//! GitHub calls all read the same way.

/// `e` and its sources, outermost first, joined by `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(x) = source {
        s = format!("{s}: {x}");
        source = x.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sources_follow_the_error() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let outer = std::io::Error::other(Wrapped(io));
        assert_eq!(error_chain(&outer), "tcp connect error: Connection refused");
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("tcp connect error")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
