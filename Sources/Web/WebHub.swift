import EmotionCore
import Foundation
import Sinks

/// What the HTTP server shows of one camera, shared between the frame loop (which writes it
/// through the web sinks) and the server's event loop (which reads it and subscribes to it).
///
/// The frame loop's cost is bounded by who is connected: the state is a copy of the last
/// result; events are encoded only with an SSE subscriber; frames are drawn and JPEG-encoded
/// only while a live view or a snapshot request waits (see `LiveViewSink`).
public final class WebHub: @unchecked Sendable {
    private let lock = NSLock()
    private var name: String
    public var camera: String { locked { name } }
    private var source = SourceStatus(name: "", status: "starting", width: 0, height: 0)
    private var last: FrameResult?
    private var live = LiveTracks()
    private var fps = 0.0
    private var frameTimes: [Date] = []
    private var nextID = 0
    private var eventSubscribers: [Int: @Sendable ([UInt8]) -> Void] = [:]
    private var frameSubscribers: [Int: @Sendable ([UInt8]) -> Void] = [:]
    private var snapshotWaiters: [Int: @Sendable ([UInt8]?) -> Void] = [:]
    /// What closes each live view's connection when the camera is removed.
    private var closers: [Int: @Sendable () -> Void] = [:]
    private var closed = false
    private let sequence: EventSequence
    private let encoder: JSONEncoder = {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]; return e
    }()

    public convenience init(camera: String) { self.init(camera: camera, sequence: EventSequence()) }
    /// `sequence`: the SSE ids, shared with the other cameras of a `WebCameras`.
    init(camera: String, sequence: EventSequence) { name = camera; self.sequence = sequence }

    /// A reload renamed the camera.
    public func rename(_ camera: String) { locked { name = camera } }

    // MARK: the frame loop's side

    func started(_ s: SourceInfo) {
        locked { source = SourceStatus(name: s.name, status: "running", width: s.width, height: s.height); live = LiveTracks() }
    }

    func ended(_ events: [TrackEvent]) {
        record(events)
        locked { source.status = "ended"; fps = 0; frameTimes = [] }
    }

    /// The frame's result and events: the state copy, and the events to SSE subscribers.
    func record(_ out: FrameOutput) {
        locked {
            last = out.result
            // The daemon opens (and reopens) sources itself; the frames say which one runs.
            let r = out.result
            source = SourceStatus(name: r.source, status: "running", width: r.width, height: r.height)
            live.update(r.faces)
            let now = Date()
            frameTimes.append(now)
            frameTimes.removeAll { now.timeIntervalSince($0) > 1 }
            fps = Double(frameTimes.count)
        }
        record(out.events)
    }

    /// A sustained-emotion notice to the SSE subscribers (`event: notice`).
    public func notice(_ n: Notice) {
        let subs = locked { Array(eventSubscribers.values) }
        guard !subs.isEmpty, let json = try? encoder.encode(n) else { return }
        let text = Array("id: \(sequence.next())\nevent: notice\ndata: ".utf8) + Array(json) + Array("\n\n".utf8)
        for s in subs { s(text) }
    }

    private func record(_ events: [TrackEvent]) {
        guard !events.isEmpty else { return }
        let (subs, camera): ([@Sendable ([UInt8]) -> Void], String) = locked {
            for e in events { live.apply(e) }
            return (Array(eventSubscribers.values), name)
        }
        guard !subs.isEmpty else { return }
        for e in events {
            guard let json = try? encoder.encode(LiveEvent(camera: camera, event: e)) else { continue }
            let text = Array("id: \(sequence.next())\nevent: track\ndata: ".utf8) + Array(json) + Array("\n\n".utf8)
            for s in subs { s(text) }
        }
    }

    /// A track event on the live stream: the event (schemas/event.schema.json) with its camera's
    /// name, as one stream carries every camera's (MQTT names the camera in the topic instead).
    struct LiveEvent: Encodable {
        let camera: String, event: TrackEvent
        enum Key: String, CodingKey { case camera }
        func encode(to encoder: Encoder) throws {
            try event.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(camera, forKey: .camera)
        }
    }

    /// Whether a live view or a snapshot request waits for a frame.
    public var wantsFrame: Bool { locked { !frameSubscribers.isEmpty || !snapshotWaiters.isEmpty } }

    /// An annotated JPEG to the viewers and the waiting snapshot requests.
    func publish(jpeg: [UInt8]) {
        let (viewers, waiters) = locked {
            let w = Array(snapshotWaiters.values); snapshotWaiters = [:]
            return (Array(frameSubscribers.values), w)
        }
        for v in viewers { v(jpeg) }
        for w in waiters { w(jpeg) }
    }

    // MARK: the server's side

    public struct SourceStatus: Codable, Sendable {
        public var name: String
        /// starting (no frame yet), running, ended (the file or stream ended).
        public var status: String
        public var width: Int, height: Int
    }

    /// One camera in GET /api/state (schemas/api-state.schema.json).
    public struct CameraView: Codable, Sendable {
        public var camera: String
        public var source: SourceStatus
        public var fps: Double
        public var frame: Int?
        public var timestamp: String?
        public var faces: [TrackedFace]
        public var tracks: [CameraState.Track]
        public var dominant: String?

        enum CodingKeys: String, CodingKey { case camera, source, fps, frame, timestamp, faces, tracks, dominant }
        /// Absent values as explicit nulls (the schema requires every key).
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(camera, forKey: .camera); try c.encode(source, forKey: .source); try c.encode(fps, forKey: .fps)
            try c.encode(frame, forKey: .frame); try c.encode(timestamp, forKey: .timestamp); try c.encode(faces, forKey: .faces)
            try c.encode(tracks, forKey: .tracks); try c.encode(dominant, forKey: .dominant)
        }
    }

    public func view() -> CameraView {
        locked {
            let state = live.state(camera: name, timestamp: last?.timestamp ?? "")
            return CameraView(camera: name, source: source, fps: fps, frame: last?.frame, timestamp: last?.timestamp,
                              faces: last?.faces ?? [], tracks: state.tracks, dominant: state.dominant)
        }
    }

    public func sourceStatus() -> SourceStatus { locked { source } }

    public func subscribeEvents(_ send: @escaping @Sendable ([UInt8]) -> Void) -> Int {
        locked { nextID += 1; eventSubscribers[nextID] = send; return nextID }
    }

    /// `onClose`: closes the viewer's connection when the camera is removed (at once if it already was).
    public func subscribeFrames(_ send: @escaping @Sendable ([UInt8]) -> Void,
                                onClose: @escaping @Sendable () -> Void = {}) -> Int {
        let id: Int? = locked {
            guard !closed else { return nil }
            nextID += 1; frameSubscribers[nextID] = send; closers[nextID] = onClose
            return nextID
        }
        guard let id else { onClose(); return 0 }
        return id
    }

    /// The camera was removed: live views are closed, waiting snapshots get nothing, event
    /// subscriptions end (the registry's event streams stay open for the other cameras).
    func close() {
        let (close, waiters): ([@Sendable () -> Void], [@Sendable ([UInt8]?) -> Void]) = locked {
            closed = true
            defer { frameSubscribers = [:]; eventSubscribers = [:]; snapshotWaiters = [:]; closers = [:] }
            return (Array(closers.values), Array(snapshotWaiters.values))
        }
        for w in waiters { w(nil) }
        for c in close { c() }
    }

    /// `done` gets the next annotated frame, or nil after `timeout` seconds without one.
    public func requestSnapshot(timeout: Double, _ done: @escaping @Sendable ([UInt8]?) -> Void) {
        let id = locked { nextID += 1; snapshotWaiters[nextID] = done; return nextID }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
            if let d = locked({ snapshotWaiters.removeValue(forKey: id) }) { d(nil) }
        }
    }

    public func unsubscribe(_ id: Int) {
        locked { eventSubscribers[id] = nil; frameSubscribers[id] = nil; closers[id] = nil }
    }

    public var subscribers: (events: Int, frames: Int) { locked { (eventSubscribers.count, frameSubscribers.count) } }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }
}
