import CMosquitto
import Foundation
import Glibc
import Settings

/// The `outputs.mqtt` section of the one configuration model, as the publisher takes it.
public typealias MQTTSettings = EmotiondConfig.MQTT

/// Why a connection attempt failed: `label` is a short fixed word for the metrics,
/// `message` the human-readable reason for the log.
public struct MQTTFailure: Sendable, Equatable {
    public let label: String, message: String
}

/// Publishes through libmosquitto. Availability (`<prefix>/available`, retained, last will
/// "offline"); the broker being down never blocks or stops the caller: messages wait in a
/// bounded queue (oldest dropped first, counted) and go out on reconnect.
///
/// The connection runs on a thread of our own (libmosquitto in threaded mode, not
/// `mosquitto_loop_start`): libmosquitto's loop retries reconnections silently, so a wrong
/// password or a TLS mismatch would never be reported. Here every attempt's outcome is seen:
/// failures go to `onFailure` (each attempt, for the metrics) and to `onLog` once per change
/// of state, not once per retry (1 s to 30 s exponential backoff).
public final class MQTTPublisher: @unchecked Sendable {
    public typealias Message = (topic: String, payload: Data, retain: Bool)
    public let settings: MQTTSettings
    public var availabilityTopic: String { "\(settings.topicPrefix)/available" }
    private let mosq: OpaquePointer
    private let lock = NSLock()
    private var connected = false, flushing = false, _stopping = false
    private var queue: [Message] = []
    private var _dropped = 0, _reconnects = 0, _connections = 0, everConnected = false
    /// Last state reported through onLog, so a broker that keeps refusing us is reported once.
    private var reported: String?
    /// Outcome of the current attempt, set by the callbacks on the connection thread.
    private var attemptFailure: MQTTFailure?, attemptErrors: [String] = [], attemptConnected = false
    private let onLog: (@Sendable (String) -> Void)?
    private let onFailure: (@Sendable (MQTTFailure) -> Void)?
    private let exited = DispatchSemaphore(value: 0)

    public enum Error: Swift.Error, CustomStringConvertible {
        case setup(String)
        public var description: String { switch self { case let .setup(s): return "mqtt: \(s)" } }
    }

    private static let libInit: Void = { mosquitto_lib_init() }()

    /// - Parameters:
    ///   - onLog: state changes (connected, refused and why, connection lost), once each.
    ///   - onFailure: every failed connection attempt.
    ///   - start: connect now; false leaves that to `start()` (a reload validates first, connects on commit).
    public init(settings: MQTTSettings, onLog: (@Sendable (String) -> Void)? = nil,
                onFailure: (@Sendable (MQTTFailure) -> Void)? = nil, start: Bool = true) throws {
        _ = Self.libInit
        self.settings = settings
        self.onLog = onLog
        self.onFailure = onFailure
        guard let m = mosquitto_new(settings.clientID, true, nil) else {
            throw Error.setup("cannot create client (out of memory or bad client id)")
        }
        mosq = m
        do { try configure() } catch { mosquitto_destroy(m); throw error }
        if start { self.start() }
    }

    private var started = false

    /// Starts connecting (once) on the connection thread.
    public func start() {
        lock.lock(); let first = !started; started = true; lock.unlock()
        if first { Thread.detachNewThread { [self] in self.run() } }
    }

    private func configure() throws {
        func check(_ rc: Int32, _ what: String) throws {
            guard rc == MOSQ_ERR_SUCCESS.rawValue else {
                throw Error.setup("\(what): \(String(cString: mosquitto_strerror(rc)))")
            }
        }
        let s = settings
        try check(mosquitto_will_set(mosq, availabilityTopic, 7, "offline", 1, true), "last will")
        if let u = s.username { try check(mosquitto_username_pw_set(mosq, u, s.password), "username/password") }
        if let ca = s.caFile {
            try check(mosquitto_tls_set(mosq, ca, nil, s.certFile, s.keyFile, nil), "TLS (ca_file \(ca))")
        }
        // Publishing from the caller's thread queues the packet and wakes our loop thread.
        try check(mosquitto_threaded_set(mosq, true), "threaded mode")
        mosquitto_user_data_set(mosq, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_connect_callback_set(mosq) { _, obj, rc in MQTTPublisher.from(obj)?.onConnect(rc) }
        mosquitto_disconnect_callback_set(mosq) { _, obj, rc in MQTTPublisher.from(obj)?.onDisconnect(rc, errno) }
        mosquitto_log_callback_set(mosq) { _, obj, level, text in
            // TLS failures are only described here (OpenSSL's error queue, host name verification).
            guard level == MOSQ_LOG_ERR, let text else { return }
            MQTTPublisher.from(obj)?.noteError(String(cString: text))
        }
    }

    private static func from(_ obj: UnsafeMutableRawPointer?) -> MQTTPublisher? {
        obj.map { Unmanaged<MQTTPublisher>.fromOpaque($0).takeUnretainedValue() }
    }

    deinit { mosquitto_destroy(mosq) }

    private var stopping: Bool { lock.lock(); defer { lock.unlock() }; return _stopping }
    public var isConnected: Bool { lock.lock(); defer { lock.unlock() }; return connected }
    public var queued: Int { lock.lock(); defer { lock.unlock() }; return queue.count }
    /// Messages dropped from the full queue (oldest first), since start, reloads included.
    public var dropped: Int { lock.lock(); defer { lock.unlock() }; return _dropped }
    public var reconnects: Int { lock.lock(); defer { lock.unlock() }; return _reconnects }
    /// Connections accepted so far (CONNACK 0): a change tells a sink to publish again what a
    /// broker restarted without persistence has lost (Home Assistant discovery).
    public var connections: Int { lock.lock(); defer { lock.unlock() }; return _connections }
    private var endpoint: String { "\(settings.host):\(settings.port)" }

    // MARK: connection thread

    /// Connect, run the network loop until the connection ends, back off, again; until shutdown.
    private func run() {
        var delay = 1.0
        while !stopping {
            lock.lock(); attemptFailure = nil; attemptErrors = []; attemptConnected = false; lock.unlock()
            errno = 0
            let rc = mosquitto_connect_async(mosq, settings.host, Int32(settings.port), Int32(settings.keepalive))
            if rc != MOSQ_ERR_SUCCESS.rawValue {
                fail(connectFailure(rc, errno))
            } else {
                let started = Date()
                var lrc: Int32
                repeat { lrc = mosquitto_loop(mosq, 200, 1) } while lrc == MOSQ_ERR_SUCCESS.rawValue && !stopping
                    && (isConnected || !noAnswer(since: started))
                if stopping { return finish() }
                let err = errno
                // The loop can end without a callback (e.g. a failed TLS handshake): say why ourselves.
                lock.lock(); let (was, reported) = (connected || attemptConnected, attemptFailure != nil); lock.unlock()
                if !was && !reported && lrc != MOSQ_ERR_SUCCESS.rawValue { fail(connectFailure(lrc, err)) }
                if isConnected { onDisconnect(lrc, err) }
                lock.lock(); if attemptConnected { delay = 1 }; lock.unlock()
            }
            sleep(seconds: delay)
            delay = min(delay * 2, 30)
        }
        finish()
    }

    /// After shutdown's DISCONNECT was queued: lets the loop write it (briefly), then signals the exit.
    private func finish() {
        let end = Date().addingTimeInterval(0.5)
        while Date() < end && mosquitto_want_write(mosq) && mosquitto_loop(mosq, 50, 1) == MOSQ_ERR_SUCCESS.rawValue {}
        exited.signal()
    }

    /// A broker that accepts TCP but never answers CONNACK (not MQTT, or TLS expected) is a failure too.
    private func noAnswer(since start: Date) -> Bool {
        guard Date().timeIntervalSince(start) > Double(max(settings.keepalive, 10)) else { return false }
        fail(MQTTFailure(label: "no_connack", message: "no CONNACK within \(max(settings.keepalive, 10)) s "
                         + "(not an MQTT broker, or a TLS port without outputs.mqtt.ca_file?)"))
        return true
    }

    /// Sleeps in short steps so that shutdown is not held up by the backoff.
    private func sleep(seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && !stopping { usleep(50_000) }
    }

    private func noteError(_ s: String) { lock.lock(); attemptErrors.append(s); lock.unlock() }

    private func connectFailure(_ rc: Int32, _ err: Int32) -> MQTTFailure {
        switch rc {
        case MOSQ_ERR_ERRNO.rawValue:
            let label: String
            switch err {
            case ECONNREFUSED: label = "connection_refused"
            case ETIMEDOUT, EHOSTUNREACH, ENETUNREACH: label = "unreachable"
            default: label = "network"
            }
            return MQTTFailure(label: label, message: String(cString: strerror(err)))
        case MOSQ_ERR_EAI.rawValue:
            return MQTTFailure(label: "dns", message: "cannot resolve host name '\(settings.host)'")
        case MOSQ_ERR_TLS.rawValue, MOSQ_ERR_TLS_HANDSHAKE.rawValue:
            lock.lock(); let detail = attemptErrors; lock.unlock()
            let why = detail.isEmpty ? String(cString: mosquitto_strerror(rc)) : detail.joined(separator: "; ")
            return MQTTFailure(label: "tls", message: "TLS: \(why)")
        default:
            return MQTTFailure(label: "other", message: String(cString: mosquitto_strerror(rc)))
        }
    }

    /// Counts the failure, and logs it when it differs from the last state reported.
    private func fail(_ f: MQTTFailure) {
        lock.lock(); attemptFailure = f; lock.unlock()
        onFailure?(f)
        report("mqtt: cannot connect to \(endpoint): \(f.message) (retrying with backoff up to 30 s)", state: f.label)
    }

    private func report(_ line: String, state: String) {
        lock.lock()
        let changed = reported != state
        reported = state
        lock.unlock()
        if changed { onLog?(line) }
    }

    private func onConnect(_ rc: Int32) {
        guard rc == 0 else {
            let label = [1: "protocol", 2: "client_id_rejected", 3: "unavailable", 4: "bad_credentials",
                         5: "not_authorized"][Int(rc)] ?? "refused"
            let who = settings.username.map { " (username '\($0)')" } ?? ""
            return fail(MQTTFailure(label: label, message: String(cString: mosquitto_connack_string(rc)) + who))
        }
        lock.lock()
        if everConnected { _reconnects += 1 }
        everConnected = true
        _connections += 1
        attemptConnected = true
        connected = true
        flushing = true
        lock.unlock()
        report("mqtt: connected to \(endpoint)", state: "connected")
        raw(availabilityTopic, Data("online".utf8), retain: true)
        flushQueue()
    }

    /// Sends what waited, oldest first; `flushing` makes new messages queue behind it, keeping the order.
    private func flushQueue() {
        while true {
            lock.lock()
            var batch = queue
            queue.removeAll()
            if batch.isEmpty { flushing = false }
            lock.unlock()
            if batch.isEmpty { return }
            while let m = batch.first {
                guard raw(m.topic, m.payload, retain: m.retain) else {
                    lock.lock(); flushing = false; lock.unlock()
                    return requeue(batch)
                }
                batch.removeFirst()
            }
        }
    }

    private func onDisconnect(_ rc: Int32, _ err: Int32) {
        lock.lock()
        let was = connected
        connected = false
        let alreadyFailed = attemptFailure != nil
        lock.unlock()
        if stopping || rc == 0 { return }
        var why = String(cString: mosquitto_strerror(rc))
        if err != 0 { why += " (\(String(cString: strerror(err))))" }
        if was {
            report("mqtt: connection to \(endpoint) lost: \(why); reconnecting", state: "lost")
        } else if alreadyFailed {
            return   // the CONNACK refusal was reported already
        } else if rc == MOSQ_ERR_CONN_LOST.rawValue {
            // The broker closed the connection before answering: typically plain MQTT sent to a TLS port.
            fail(MQTTFailure(label: "connection_lost", message: "connection closed before CONNACK: \(why) "
                             + "(a TLS port without outputs.mqtt.ca_file?)"))
        } else {
            fail(connectFailure(rc, err))   // e.g. a non-blocking connect refused
        }
    }

    @discardableResult
    private func raw(_ topic: String, _ payload: Data, retain: Bool) -> Bool {
        let rc = payload.withUnsafeBytes { b in
            mosquitto_publish(mosq, nil, topic, Int32(b.count), b.baseAddress, Int32(settings.qos), retain)
        }
        return rc == MOSQ_ERR_SUCCESS.rawValue
    }

    // MARK: caller side

    /// Publishes now if connected, else queues (bounded; the oldest message is dropped and counted).
    public func publish(_ topic: String, _ payload: Data, retain: Bool = false) {
        lock.lock()
        if connected && !flushing {
            lock.unlock()
            if raw(topic, payload, retain: retain) { return }
            lock.lock()
        }
        enqueue([(topic, payload, retain)])
        lock.unlock()
    }

    /// Appends under the lock, dropping (and counting) the oldest beyond the queue size.
    private func enqueue(_ ms: [Message]) {
        queue.append(contentsOf: ms)
        let over = queue.count - max(settings.queueSize, 0)
        if over > 0 { queue.removeFirst(over); _dropped += over }
    }

    private func requeue(_ ms: [Message]) {
        lock.lock(); queue.insert(contentsOf: ms, at: 0); enqueue([]); lock.unlock()
    }

    /// Takes over what `old` still holds (a reload that changed the MQTT settings): its queued
    /// messages go out first, and its counters continue, so nothing is lost or uncounted.
    public func adopt(_ old: MQTTPublisher) {
        old.lock.lock()
        let pending = old.queue, d = old._dropped, r = old._reconnects
        old.queue.removeAll()
        old.lock.unlock()
        lock.lock(); _dropped += d; _reconnects += r; lock.unlock()
        requeue(pending)
        // Connected already: nothing would flush the adopted messages until the next reconnect.
        lock.lock(); let now = connected && !flushing; if now { flushing = true }; lock.unlock()
        if now { flushQueue() }
    }

    /// Publishes "offline" (retained), waits briefly for it to leave, then disconnects. Returns the
    /// number of queued messages that were never sent (the broker was down).
    @discardableResult
    public func shutdown(timeout: Double = 1.0) -> Int {
        if isConnected {
            var mid: Int32 = 0
            _ = "offline".withCString { mosquitto_publish(mosq, &mid, availabilityTopic, 7, $0, 1, true) }
            let deadline = Date().addingTimeInterval(timeout)
            // QoS 1: libmosquitto reports completion by dropping the message from its outbound queue.
            while Date() < deadline && mosquitto_want_write(mosq) { usleep(10_000) }
            usleep(50_000)
        }
        // DISCONNECT first (queued for the loop thread, which finish() lets write it), then stop.
        mosquitto_disconnect(mosq)
        lock.lock(); _stopping = true; let unsent = queue.count, running = started; lock.unlock()
        // The connection thread notices within one loop step (200 ms) or one backoff step.
        if running { _ = exited.wait(timeout: .now() + 1) }
        return unsent
    }
}
