import EmotionCore
import Foundation
import Sinks
import XCTest

/// The MQTT payloads as encoded: events and state against their JSON Schemas, the state's
/// tracks and dominant label, and Home Assistant's discovery configs (documented required keys,
/// value templates rendered by Jinja2 against real state payloads).
final class MQTTPayloadTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let encoder: JSONEncoder = { let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]; return e }()

    static func snapshot(_ label: String, _ p: Float, t: Double = 1) -> TrackEvent.Snapshot {
        var scores = Dictionary(uniqueKeysWithValues: Emotion.allCases.map { ($0.name, (1 - p) / 6) })
        scores[label] = p
        return TrackEvent.Snapshot(label: label, confidence: p, scores: scores, box: FaceBox(x: 5, y: 6, width: 70, height: 80),
                                   firstSeen: 0.5, lastSeen: t, mediaTime: t, timestamp: "2026-12-01T10:00:00.000Z")
    }

    static func event(_ type: TrackEvent.Kind, track: Int, _ label: String, _ p: Float = 0.7,
                      before: TrackEvent.Snapshot? = nil) -> TrackEvent {
        TrackEvent(id: "1764583200.123456-abc\(track)yz", type: type, track: track, before: before,
                   after: snapshot(label, p), mediaTime: 1, timestamp: "2026-12-01T10:00:00.000Z", source: "/dev/video0")
    }

    func json(_ v: some Encodable) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: encoder.encode(v)) as! [String: Any]
    }

    /// Runs Python from the repository's venv (jsonschema, jinja2) on `stdin`; fails without it.
    func python(_ args: [String], stdin: Data = Data()) throws -> String {
        let py = Self.root.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: py) else {
            // A failure, not a skip: the check must run wherever the tests run.
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no .venv at \(py): scripts/setup.sh makes it (jsonschema, jinja2)"])
        }
        let p = Process(), out = Pipe(), err = Pipe(), inp = Pipe()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = args
        p.standardOutput = out; p.standardError = err; p.standardInput = inp
        try p.run()
        inp.fileHandleForWriting.write(stdin); try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, String(decoding: e, as: UTF8.self))
        return String(decoding: o, as: UTF8.self)
    }

    /// Validates each JSON document (one per line) against a schema of schemas/.
    func validate(_ docs: [Data], schema: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("payloads-\(UUID().uuidString).ndjson")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(docs.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n").utf8).write(to: file)
        let out = try python([Self.root.appendingPathComponent("tools/validate_json.py").path,
                              Self.root.appendingPathComponent("schemas/\(schema)").path, file.path])
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "\(docs.count) valid")
    }

    func testEventsValidateAndCarryBeforeAfterObjects() throws {
        let new = Self.event(.new, track: 1, "neutral")
        let change = Self.event(.change, track: 1, "happy", before: new.after)
        let end = Self.event(.end, track: 1, "happy", before: change.after)
        try validate([new, change, end].map { try encoder.encode($0) }, schema: "event.schema.json")
        let j = try json(change)
        XCTAssertEqual(j["schema"] as? String, "emotiond.event/3")
        XCTAssertEqual((j["before"] as? [String: Any])?["label"] as? String, "neutral")
        XCTAssertEqual((j["after"] as? [String: Any])?["label"] as? String, "happy")
        XCTAssertEqual(Set((j["after"] as! [String: Any]).keys),
                       ["label", "confidence", "scores", "box", "first_seen", "last_seen", "media_time", "timestamp"])
        XCTAssertNil(try json(new)["before"], "new has no before")
    }

    func testStateFollowsTheEventsAndNamesTheDominantLabel() throws {
        var live = LiveTracks()
        XCTAssertEqual(try json(live.state(camera: "door", timestamp: "2026-12-01T10:00:00.000Z"))["dominant"] as? NSNull, NSNull(),
                       "no faces: dominant is an explicit null")
        live.apply(Self.event(.new, track: 1, "sad", 0.9))
        live.apply(Self.event(.new, track: 2, "happy", 0.6))
        live.apply(Self.event(.new, track: 3, "happy", 0.5))
        XCTAssertEqual(live.state(camera: "door", timestamp: "t").dominant, "happy", "two faces beat one")
        live.apply(Self.event(.change, track: 3, "sad", 0.5, before: Self.snapshot("happy", 0.5)))
        XCTAssertEqual(live.labels, [1: "sad", 2: "happy", 3: "sad"])
        live.apply(Self.event(.end, track: 1, "sad", before: Self.snapshot("sad", 0.9)))
        // One happy (0.6) against one sad (0.5): the tie goes to the higher confidence.
        XCTAssertEqual(live.state(camera: "door", timestamp: "t").dominant, "happy")
        // The frames move the confidences (the smoothed score of each track's own label).
        let face = TrackedFace(track: 3, box: FaceBox(x: 1, y: 2, width: 3, height: 4),
                               raw: EmotionScores([0, 0, 0, 1, 0, 0, 0]), smoothed: EmotionScores([0, 0, 0, 0.2, 0.75, 0, 0.05]))
        live.update([face])
        let s = live.state(camera: "door", timestamp: "2026-12-01T10:00:00.000Z")
        XCTAssertEqual(s.tracks.map(\.track), [2, 3]); XCTAssertEqual(s.faces, 2)
        XCTAssertEqual(s.tracks[1].confidence, 0.75); XCTAssertEqual(s.tracks[1].label, "sad", "a frame never changes a label")
        XCTAssertEqual(s.dominant, "sad")
        XCTAssertEqual(s.tracks[1].id, "1764583200.123456-abc3yz")
        let empty = LiveTracks().state(camera: "door", timestamp: "2026-12-01T10:00:00.000Z")
        try validate([try encoder.encode(s), try encoder.encode(empty)], schema: "state.schema.json")
    }

    func discovery(prefix: String = "emotiond", camera: String = "door") -> HomeAssistantDiscovery {
        HomeAssistantDiscovery(prefix: "homeassistant", topics: MQTTTopics(prefix: prefix, camera: camera), version: "0.1.0")
    }

    /// Home Assistant's documented discovery: topic `<prefix>/<component>/<node_id>/<object_id>/config`
    /// with ids of [a-zA-Z0-9_-]; a state_topic (required for sensor and binary_sensor); unique_id
    /// (needed for the device registry); device identifiers; availability on our topic.
    func testDiscoveryConfigsHaveTheDocumentedFields() throws {
        let d = discovery()
        let msgs = try d.messages()
        XCTAssertEqual(msgs.map(\.topic), ["homeassistant/sensor/emotiond_door/dominant_emotion/config",
                                           "homeassistant/sensor/emotiond_door/faces/config",
                                           "homeassistant/binary_sensor/emotiond_door/face_present/config"])
        var uniqueIDs = Set<String>()
        for m in msgs {
            let c = try JSONSerialization.jsonObject(with: m.payload) as! [String: Any]
            XCTAssertEqual(c["state_topic"] as? String, "emotiond/door/state", m.topic)
            XCTAssertEqual(c["availability_topic"] as? String, "emotiond/available")
            XCTAssertEqual(c["payload_available"] as? String, "online"); XCTAssertEqual(c["payload_not_available"] as? String, "offline")
            let uid = try XCTUnwrap(c["unique_id"] as? String)
            XCTAssertTrue(uniqueIDs.insert(uid).inserted, "unique_id \(uid) twice")
            XCTAssertNotNil(uid.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression))
            let dev = try XCTUnwrap(c["device"] as? [String: Any])
            XCTAssertEqual(dev["identifiers"] as? [String], ["emotiond_door"])
            XCTAssertEqual(dev["name"] as? String, "emotiond door"); XCTAssertEqual(dev["sw_version"] as? String, "0.1.0")
            XCTAssertNotNil(dev["manufacturer"] as? String); XCTAssertNotNil(dev["model"] as? String)
            XCTAssertNotNil(c["value_template"] as? String); XCTAssertNotNil(c["name"] as? String)
            XCTAssertEqual((c["origin"] as? [String: Any])?["name"] as? String, "emotiond")
        }
        let dominant = try JSONSerialization.jsonObject(with: msgs[0].payload) as! [String: Any]
        XCTAssertEqual(dominant["device_class"] as? String, "enum")
        XCTAssertEqual(dominant["options"] as? [String], Emotion.allCases.map(\.name) + ["none"])
        XCTAssertEqual(d.configTopics, msgs.map(\.topic))
        // Node ids keep to Home Assistant's characters whatever the topic prefix.
        XCTAssertEqual(discovery(prefix: "home/cams.ü", camera: "cam-1").nodeID, "home_cams___cam-1")
    }

    /// The value templates, rendered by Jinja2 (Home Assistant's template engine) against the state
    /// payloads the sink publishes: with no face, one happy face, and two faces.
    func testValueTemplatesRenderAgainstRealStatePayloads() throws {
        var live = LiveTracks()
        var states = [try encoder.encode(live.state(camera: "door", timestamp: "2026-12-01T10:00:00.000Z"))]
        live.apply(Self.event(.new, track: 1, "happy"))
        states.append(try encoder.encode(live.state(camera: "door", timestamp: "2026-12-01T10:00:00.000Z")))
        live.apply(Self.event(.new, track: 2, "sad", 0.9))
        states.append(try encoder.encode(live.state(camera: "door", timestamp: "2026-12-01T10:00:00.000Z")))
        let templates = discovery().entities.map(\.config.valueTemplate)
        let input = try JSONSerialization.data(withJSONObject: ["templates": templates, "states": states.map { String(decoding: $0, as: UTF8.self) }])
        let out = try python(["-c", """
            import json, sys, jinja2
            d = json.load(sys.stdin)
            env = jinja2.Environment(undefined=jinja2.StrictUndefined)
            for s in d["states"]:
                print("|".join(env.from_string(t).render(value_json=json.loads(s)) for t in d["templates"]))
            """], stdin: input)
        XCTAssertEqual(out.split(separator: "\n"), ["none|0|OFF", "happy|1|ON", "sad|2|ON"])
    }
}
