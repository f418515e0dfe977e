//! This process's CPU time and peak memory, read from `/proc` (Linux; `None` elsewhere).

/// Clock ticks per second of `/proc/self/stat` times (USER_HZ, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// CPU time used by this process so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CpuTime {
    /// Seconds in user mode.
    pub(crate) user_s: f64,
    /// Seconds in the kernel.
    pub(crate) system_s: f64,
}

/// CPU time from `/proc/self/stat` (fields 14 and 15, after the command name).
pub(crate) fn cpu_time() -> Option<CpuTime> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<CpuTime> {
    // The command name (field 2) is in parentheses and may contain spaces: start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11, stime field 15 → index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(CpuTime {
        user_s: utime as f64 / USER_HZ,
        system_s: stime as f64 / USER_HZ,
    })
}

/// Peak resident set size in bytes (`VmHWM` of `/proc/self/status`).
pub(crate) fn max_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_hwm(&status)
}

fn parse_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next().unwrap_or("kB");
    let mult = match unit {
        "kB" => 1024,
        "mB" | "MB" => 1024 * 1024,
        _ => 1,
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat = "1234 (my (weird) cmd) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 3 0 100 1000 200";
        let t = parse_stat(stat).expect("parses");
        assert_eq!(
            t,
            CpuTime {
                user_s: 2.5,
                system_s: 0.75
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tx\nVmPeak:\t  9999 kB\nVmHWM:\t    1200 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_hwm(status), Some(1200 * 1024));
        assert_eq!(parse_hwm("Name: x\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        assert!(cpu_time().is_some());
        assert!(max_rss_bytes().is_some_and(|b| b > 0));
    }
}
