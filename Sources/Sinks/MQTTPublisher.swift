import CMosquitto
import Foundation

/// MQTT settings (config section outputs.mqtt).
public struct MQTTSettings: Sendable {
    public var host = "127.0.0.1", port = 1883, clientID = "emotiond", qos = 1, keepalive = 30, queueSize = 1000
    public var username: String?, password: String?, caFile: String?, certFile: String?, keyFile: String?
    public var topicPrefix = "emotiond"
    public init() {}
}

/// Publishes through libmosquitto's network thread. Availability (`<prefix>/available`,
/// retained, last will "offline"); the broker being down never blocks or stops the caller:
/// messages wait in a bounded queue (oldest dropped first, counted) and go out on reconnect,
/// which libmosquitto retries with exponential backoff (1 s to 30 s).
public final class MQTTPublisher: @unchecked Sendable {
    public let settings: MQTTSettings
    public var availabilityTopic: String { "\(settings.topicPrefix)/available" }
    private let mosq: OpaquePointer
    private let lock = NSLock()
    private var connected = false
    private var queue: [(String, Data, Bool)] = []
    public private(set) var dropped = 0
    public private(set) var reconnects = 0
    private var everConnected = false

    public enum Error: Swift.Error, CustomStringConvertible {
        case setup(String)
        public var description: String { switch self { case let .setup(s): return "mqtt: \(s)" } }
    }

    private static let libInit: Void = { mosquitto_lib_init() }()

    public init(settings: MQTTSettings) throws {
        _ = Self.libInit
        self.settings = settings
        guard let m = mosquitto_new(settings.clientID, true, nil) else { throw Error.setup("cannot create client (out of memory or bad client id)") }
        mosq = m
        mosquitto_user_data_set(m, Unmanaged.passUnretained(self).toOpaque())
        func check(_ rc: Int32, _ what: String) throws {
            if rc != MOSQ_ERR_SUCCESS.rawValue { throw Error.setup("\(what): \(String(cString: mosquitto_strerror(rc)))") }
        }
        try check(mosquitto_will_set(m, "\(settings.topicPrefix)/available", 7, "offline", 1, true), "last will")
        if let u = settings.username { try check(mosquitto_username_pw_set(m, u, settings.password), "username/password") }
        if let ca = settings.caFile {
            try check(mosquitto_tls_set(m, ca, nil, settings.certFile, settings.keyFile, nil), "TLS (ca_file \(ca))")
        }
        mosquitto_reconnect_delay_set(m, 1, 30, true)
        mosquitto_connect_callback_set(m) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MQTTPublisher>.fromOpaque(obj).takeUnretainedValue().onConnect(rc)
        }
        mosquitto_disconnect_callback_set(m) { _, obj, _ in
            guard let obj else { return }
            Unmanaged<MQTTPublisher>.fromOpaque(obj).takeUnretainedValue().onDisconnect()
        }
        // Until the first connection succeeds we retry ourselves with backoff (libmosquitto's
        // loop thread only reconnects a connection that existed); afterwards its loop thread
        // reconnects with exponential backoff. Either way the caller is never blocked.
        Thread.detachNewThread { [weak self] in
            var delay = 0.5
            while let me = self, !me.stopping {
                let rc = mosquitto_connect_async(me.mosq, me.settings.host, Int32(me.settings.port), Int32(me.settings.keepalive))
                if rc == MOSQ_ERR_SUCCESS.rawValue {
                    mosquitto_loop_start(me.mosq)
                    me.lock.lock(); me.loopRunning = true; me.lock.unlock()
                    return
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 30)
            }
        }
    }

    private var stopping: Bool { lock.lock(); defer { lock.unlock() }; return _stopping }
    private var _stopping = false
    private var loopRunning = false

    deinit {
        lock.lock(); _stopping = true; let running = loopRunning; lock.unlock()
        if running { mosquitto_loop_stop(mosq, true) }
        mosquitto_destroy(mosq)
    }

    public var isConnected: Bool { lock.lock(); defer { lock.unlock() }; return connected }
    public var queued: Int { lock.lock(); defer { lock.unlock() }; return queue.count }

    private func onConnect(_ rc: Int32) {
        guard rc == 0 else { return }
        lock.lock()
        if everConnected { reconnects += 1 }
        everConnected = true
        connected = true
        let pending = queue
        queue.removeAll()
        lock.unlock()
        raw(availabilityTopic, Data("online".utf8), retain: true)
        for (t, p, r) in pending { raw(t, p, retain: r) }
    }

    private func onDisconnect() {
        lock.lock(); connected = false; lock.unlock()
    }

    @discardableResult
    private func raw(_ topic: String, _ payload: Data, retain: Bool) -> Bool {
        let rc = payload.withUnsafeBytes { b in
            mosquitto_publish(mosq, nil, topic, Int32(b.count), b.baseAddress, Int32(settings.qos), retain)
        }
        return rc == MOSQ_ERR_SUCCESS.rawValue
    }

    /// Publishes now if connected, else queues (bounded; the oldest message is dropped and counted).
    public func publish(_ topic: String, _ payload: Data, retain: Bool = false) {
        lock.lock()
        if connected {
            lock.unlock()
            if raw(topic, payload, retain: retain) { return }
            lock.lock()
        }
        if queue.count >= settings.queueSize { queue.removeFirst(); dropped += 1 }
        queue.append((topic, payload, retain))
        lock.unlock()
    }

    /// Publishes "offline" (retained), waits briefly for it to leave, then disconnects.
    public func shutdown(timeout: Double = 1.0) {
        if isConnected {
            var mid: Int32 = 0
            _ = "offline".withCString { mosquitto_publish(mosq, &mid, availabilityTopic, 7, $0, 1, true) }
            let deadline = Date().addingTimeInterval(timeout)
            // QoS 1: libmosquitto reports completion by dropping the message from its outbound queue.
            while Date() < deadline && mosquitto_want_write(mosq) { usleep(10_000) }
            usleep(50_000)
        }
        lock.lock(); _stopping = true; let running = loopRunning; loopRunning = false; lock.unlock()
        mosquitto_disconnect(mosq)
        if running { mosquitto_loop_stop(mosq, false) }
    }
}
