import Foundation

/// Every camera the HTTP server shows, by name: one `WebHub` each. Thread-safe: the daemon adds,
/// renames and removes cameras from its own thread while the server's event loop looks them up.
///
/// GET /api/events/live carries every camera's events on one stream, so its clients subscribe
/// here rather than to one hub: they are subscribed to each hub, including ones added later.
public final class WebCameras: @unchecked Sendable {
    private let lock = NSLock()
    private var hubs: [String: WebHub] = [:]
    /// One sequence for every hub: the SSE ids of one stream stay unique across cameras.
    private let sequence = EventSequence()
    private var nextClient = 0
    private var clients: [Int: @Sendable ([UInt8]) -> Void] = [:]
    /// Per event client, its subscription id on each camera's hub.
    private var subscriptions: [Int: [String: Int]] = [:]

    public init() {}

    /// The camera's hub, made on first use (an existing one is returned as it is).
    @discardableResult
    public func add(_ name: String) -> WebHub {
        locked {
            if let hub = hubs[name] { return hub }
            let hub = WebHub(camera: name, sequence: sequence)
            for (id, send) in clients { subscriptions[id, default: [:]][name] = hub.subscribeEvents(send) }
            hubs[name] = hub
            return hub
        }
    }

    /// The camera leaves: its live views and waiting snapshots are closed; the event streams of
    /// every camera stay open (the others' events go on).
    public func remove(_ name: String) {
        let hub: WebHub? = locked {
            for id in subscriptions.keys { subscriptions[id]?[name] = nil }
            return hubs.removeValue(forKey: name)
        }
        hub?.close()
    }

    /// A reload renamed the camera: same hub (its viewers stay), new name. No-op when `new` is taken.
    public func rename(_ old: String, to new: String) {
        locked {
            guard old != new, hubs[new] == nil, let hub = hubs.removeValue(forKey: old) else { return }
            hub.rename(new)
            hubs[new] = hub
            subscriptions = subscriptions.mapValues { subs in
                var subs = subs
                subs[new] = subs.removeValue(forKey: old)
                return subs
            }
        }
    }

    public func hub(_ name: String) -> WebHub? { locked { hubs[name] } }

    public var names: [String] { locked { hubs.keys.sorted() } }

    /// The hubs in name order (what /api/cameras and /api/state list).
    public var all: [WebHub] { locked { hubs.sorted { $0.key < $1.key }.map(\.value) } }

    /// Every camera's events (SSE text) to `send`, until `unsubscribeEvents`.
    public func subscribeEvents(_ send: @escaping @Sendable ([UInt8]) -> Void) -> Int {
        locked {
            nextClient += 1
            clients[nextClient] = send
            subscriptions[nextClient] = hubs.mapValues { $0.subscribeEvents(send) }
            return nextClient
        }
    }

    public func unsubscribeEvents(_ id: Int) {
        locked {
            clients[id] = nil
            for (name, sub) in subscriptions.removeValue(forKey: id) ?? [:] { hubs[name]?.unsubscribe(sub) }
        }
    }

    /// For the metrics: live views summed over the cameras; event clients counted once each
    /// (one stream carries every camera, so summing the hubs' counts would count it per camera).
    public var subscribers: (events: Int, frames: Int) {
        locked { (clients.count, hubs.values.reduce(0) { $0 + $1.subscribers.frames }) }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }
}

/// The SSE event ids, shared by the hubs of one registry.
final class EventSequence: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}
