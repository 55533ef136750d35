import Capture
import Foundation
import Imaging
import Settings
import Sinks

/// A value computed on a thread of its own, polled without blocking the caller for long.
final class Pending<T>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value: Result<T, Error>?   // written by the worker before `done`, read after it
    private var finished = false           // the caller's thread only

    init(_ body: @escaping () throws -> T) {
        Thread.detachNewThread { [self] in
            value = Result { try body() }
            done.signal()
        }
    }

    /// The result, waiting at most `wait` seconds for it; nil while the body still runs.
    func poll(within wait: Double) -> Result<T, Error>? {
        if !finished {
            guard done.wait(timeout: .now() + wait) == .success else { return nil }
            finished = true
        }
        return value
    }
}

/// Exponential backoff: `first`, doubled after each failure, at most `limit`.
struct Backoff {
    let first: Double, limit: Double
    private(set) var current: Double
    init(first: Double, limit: Double) { self.first = first; self.limit = max(limit, first); current = first }
    /// The wait before the next attempt; the one after it doubles.
    mutating func next() -> Double { defer { current = min(current * 2, limit) }; return current }
    mutating func reset() { current = first }
}

/// The daemon's hold on a network source. When the stream is lost (or was never reached) the
/// frame loop asks `poll` for a new one every turn: attempts run on a thread of their own (one
/// may take `camera.open_timeout`), so the loop keeps ticking the sinks, answering signals and
/// pinging the watchdog; failed attempts are spaced by exponential backoff (reconnect_delay
/// doubling up to reconnect_max_delay). Each change of state is logged once, with the URL's
/// credentials redacted.
final class SourceLink {
    let shown: String
    private let open: () throws -> FrameSource
    /// Replaced when a reload renames the camera (its series carry the name); nil for `live`,
    /// which has no metrics endpoint.
    var metrics: CameraMetrics?
    private var backoff: Backoff
    private var attempt: Pending<FrameSource>?
    private var retryAt = Date()
    /// When the source went down (nil: frames flow), and whether it was ever up.
    private(set) var downSince: Date? = Date()
    private var everUp = false
    private var attempts = 0
    /// Why this outage's attempts failed: each reason is logged once (a server that alternates
    /// between two answers must not fill the journal), the newest goes to the status line.
    private var reasons: Set<String> = []
    private var lastReason: String?

    init(url: String, settings: CameraSettings, metrics: CameraMetrics?) {
        shown = Credentials.redactURL(url)
        open = { try VideoFile(url: url, settings: settings) }
        self.metrics = metrics
        backoff = Backoff(first: settings.reconnectDelay, limit: settings.reconnectMaxDelay)
        metrics?.setSourceConnected(false)
    }

    var isDown: Bool { downSince != nil }

    /// The stream broke or ended: reopen it from now on (the first attempt at once).
    func lost(_ reason: String) {
        if downSince == nil {
            downSince = Date(); attempts = 0; backoff.reset(); retryAt = Date()
            lastReason = reason; reasons = [reason]
            metrics?.setSourceConnected(false)
            logger.warning("emotiond: source lost: \(shown): \(reason); reconnecting (backoff \(range))")
        } else {
            failed(reason)   // a reopened stream that broke before its first frame
        }
    }

    /// While down: a newly opened source when an attempt succeeded, else nil (waits ≤ 0.1 s).
    func poll() -> FrameSource? {
        guard isDown else { return nil }
        guard let pending = attempt else {
            let wait = retryAt.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(min(wait, 0.1) * 1e6)); return nil }
            attempts += 1
            attempt = Pending(open)
            return nil
        }
        guard let result = pending.poll(within: 0.1) else { return nil }
        attempt = nil
        switch result {
        case let .success(source): return source
        case let .failure(error):
            metrics?.recordSourceOpenFailure()
            failed((error as? CVError)?.message ?? "\(error)")
            return nil
        }
    }

    /// A frame arrived: the source is up (again).
    func frameArrived() {
        guard let since = downSince else { return }
        downSince = nil
        metrics?.setSourceConnected(true)
        if everUp {
            metrics?.recordSourceReconnect()
            let after = String(format: "%.1f", Date().timeIntervalSince(since))
            logger.notice("emotiond: source back: \(shown) after \(after) s (\(attempts) attempt\(attempts == 1 ? "" : "s"))")
        } else {
            logger.notice("emotiond: source connected: \(shown)")
        }
        everUp = true; backoff.reset(); lastReason = nil; reasons = []
    }

    /// For the systemd status line while down.
    var status: String? {
        guard let since = downSince else { return nil }
        let what = everUp ? "source lost" : "source not reached"
        return String(format: "%@ %.0f s ago, reconnecting (attempt %d): %@", what, Date().timeIntervalSince(since), attempts,
                      lastReason ?? "connecting")
    }

    /// An attempt failed: wait longer; say so the first time this outage fails for this reason.
    private func failed(_ reason: String) {
        retryAt = Date().addingTimeInterval(backoff.next())
        lastReason = reason
        guard reasons.insert(reason).inserted else { return }
        if !everUp && reasons.count == 1 {
            logger.warning("emotiond: source \(shown) unreachable: \(reason); retrying (backoff \(range))")
        } else {
            logger.warning("emotiond: source \(shown) still unreachable: \(reason)")
        }
    }

    private var range: String { "\(Limits.fmt(backoff.first))–\(Limits.fmt(backoff.limit)) s" }
}
