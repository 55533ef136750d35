import CSystemd
import Foundation

/// sd_notify(3) through libsystemd: READY, STATUS, WATCHDOG, STOPPING. A no-op when not
/// started by systemd (NOTIFY_SOCKET unset).
public struct SystemdNotifier {
    public init() {}
    public var enabled: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    /// The watchdog interval systemd expects pings within, if any.
    public var watchdogInterval: Double? {
        var usec: UInt64 = 0
        return sd_watchdog_enabled(0, &usec) > 0 ? Double(usec) / 1e6 : nil
    }

    @discardableResult
    public func notify(_ state: String) -> Bool { sd_notify(0, state) > 0 }
    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    public func status(_ s: String) { notify("STATUS=\(s)") }
    public func watchdog() { notify("WATCHDOG=1") }
    public func stopping() { notify("STOPPING=1") }
}
