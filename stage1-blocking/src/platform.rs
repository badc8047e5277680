//! What this stage does differently on Linux, macOS and Windows, in one place. Stage 1
//! has one platform concern, the open-file limit; from stage 2 on, this module also
//! holds the backlog cap, resident memory and the stop signals.

/// Raises this process's open-file soft limit to its hard limit, as Go's runtime does at
/// start-up since 1.19. macOS starts shells at a soft limit of 256, and every connection
/// is a file: a 200-connection burst plus the runtime's own files met `Too many open
/// files` there. Returns a sentence to print only when the raise failed.
pub fn raise_open_file_limit() -> Option<String> {
    // `u64::MAX` asks for "as many as the hard limit (and macOS's per-process maximum)
    // allow"; on Windows there is no such limit and this does nothing.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(_) => None,
        Err(err) => Some(format!(
            "could not raise the open-file limit ({err}); a burst of many connections may \
             meet `Too many open files`: raise it with `ulimit -n 4096` before starting"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_the_open_file_limit_succeeds_where_the_hard_limit_allows() {
        assert_eq!(raise_open_file_limit(), None);
    }
}
