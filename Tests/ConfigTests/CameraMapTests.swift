import Foundation
import Settings
import XCTest
@testable import Config

/// The `cameras:` map: each camera starts from the top level's settings and overrides its own;
/// errors inside an entry name the entry's key and line; settings two cameras cannot share are
/// refused; the start checks run for every camera.
final class CameraMapTests: XCTestCase {
    func parsed(_ yaml: String) -> ParsedConfig { ConfigLoader.decode(Array(yaml.utf8), file: "t.yaml") }
    func messages(_ yaml: String) -> [String] { parsed(yaml).errors.map(\.description) }

    func testEntriesInheritTheTopLevelAndOverrideTheirOwn() throws {
        let p = parsed("""
        cameras:
          door:
            source: rtsp://10.0.0.2/s1
            detector:
              kind: lbp
            tracking: {max_age: 20}
          desk:
            device: /dev/video2
            width: 1280
            outputs:
              log:
                path: /tmp/desk-own.ndjson
        camera:
          width: 320
          timeout: 7
        detector:
          scale: 0.25
        thresholds: {min_confidence: 0.4}
        outputs:
          log:
            path: /var/log/emotiond/{camera}.ndjson
        """)
        XCTAssertEqual(p.errors, [])
        let cams = p.config.cameraConfigs
        XCTAssertEqual(cams.map(\.camera.name), ["door", "desk"], "file order")
        let (door, desk) = (cams[0], cams[1])
        XCTAssertEqual(door.camera.source, "rtsp://10.0.0.2/s1")
        XCTAssertEqual(door.detector.kind, .lbp)
        XCTAssertEqual(door.detector.scale, 0.25, "the top-level detector, though written after the map")
        XCTAssertEqual(door.tracking.maxAge, 20)
        XCTAssertEqual(door.camera.width, 320); XCTAssertEqual(door.camera.timeout, 7)
        XCTAssertEqual(door.log.path, "/var/log/emotiond/door.ndjson", "{camera} names each camera's file")
        XCTAssertEqual(door.minConfidence, 0.4)
        XCTAssertNil(desk.camera.source); XCTAssertEqual(desk.camera.device, "/dev/video2")
        XCTAssertEqual(desk.camera.width, 1280); XCTAssertEqual(desk.camera.timeout, 7)
        XCTAssertEqual(desk.detector.kind, .haar); XCTAssertEqual(desk.tracking.maxAge, TrackerConfig().maxAge)
        XCTAssertEqual(desk.log.path, "/tmp/desk-own.ndjson")
        XCTAssertTrue(door.cameras.isEmpty && desk.cameras.isEmpty)
    }

    func testWithoutAMapTheOneCamera() throws {
        let c = parsed("camera:\n  name: hall\noutputs:\n  log:\n    path: /tmp/{camera}.ndjson\n").config
        XCTAssertEqual(c.cameraConfigs.map(\.camera.name), ["hall"])
        XCTAssertEqual(c.cameraConfigs[0].log.path, "/tmp/hall.ndjson")
    }

    func testErrorsInsideAnEntryNameItsKeyAndLine() {
        XCTAssertEqual(messages("""
        cameras:
          door:
            source: /tmp/x.mp4
            detector:
              scale: 7
          desk:
            devise: /dev/video1
        """), ["t.yaml:5: cameras.door.detector.scale: must be a number in 0.05...1, got '7'",
               "t.yaml:7: cameras.desk.devise: unknown key (did you mean 'device'?)"])
        XCTAssertEqual(messages("cameras:\n  bad name!: {source: /tmp/x.mp4}\n"),
                       ["t.yaml:2: cameras.bad name!: must be 1-64 letters, digits, '_' or '-', got 'bad name!'"])
        XCTAssertTrue(messages("cameras:\n  door:\n    model: {path: x.onnx}\n").first?.hasPrefix("t.yaml:3: cameras.door.model: unknown key") == true,
                      "the model is shared by every camera")
        XCTAssertEqual(messages("cameras: [door, desk]\n").first?.hasPrefix("t.yaml:1: cameras: expected a mapping of camera names"), true)
        XCTAssertEqual(messages("camera:\n  name: x\ncameras:\n  door: {source: /tmp/x.mp4}\n"),
                       ["t.yaml:2: camera.name: with a cameras: map each camera is named by its key there; remove camera.name"])
    }

    func testWhatTwoCamerasCannotShare() {
        XCTAssertEqual(messages("""
        cameras:
          a: {device: /dev/video0}
          b: {device: /dev/video0}
        """), ["t.yaml:3: cameras.b.device: /dev/video0 is also camera 'a''s device; a V4L2 device has one reader"])
        let shared = messages("""
        cameras:
          a: {source: /tmp/a.mp4}
          b: {source: /tmp/b.mp4}
        outputs:
          log:
            path: /tmp/one.ndjson
        """)
        XCTAssertEqual(shared, ["t.yaml:6: outputs.log.path: /tmp/one.ndjson is also camera 'a''s log; give each camera "
                                + "its own file, e.g. /var/log/emotiond/{camera}.ndjson"])
        XCTAssertEqual(messages("cameras:\n  a: {source: /tmp/a.mp4}\n  b: {source: /tmp/a.mp4}\n"), [],
                       "two cameras may read the same file")
    }

    func testStartChecksRunForEveryCamera() {
        var p = parsed("""
        cameras:
          a:
            source: /nonexistent/a.mp4
          b:
            device: /nonexistent/video9
        """)
        StartChecks.run(&p)
        XCTAssertEqual(p.errors.map(\.description), [
            "t.yaml:3: cameras.a.source: cannot open video /nonexistent/a.mp4: no such file",
            "t.yaml:5: cameras.b.device: /nonexistent/video9 does not exist (no camera connected?)",
        ])
    }

    func testSameSettingsIgnoresWhereTheyWereWritten() {
        let a = parsed("cameras:\n  a: {source: /tmp/a.mp4}\n").config.cameraConfigs[0]
        let b = parsed("\n\n# moved down\ncameras:\n  a:\n    source: /tmp/a.mp4\n").config.cameraConfigs[0]
        XCTAssertNotEqual(a, b, "origins differ")
        XCTAssertTrue(a.sameSettings(as: b))
        let c = parsed("cameras:\n  a: {source: /tmp/b.mp4}\n").config.cameraConfigs[0]
        XCTAssertFalse(a.sameSettings(as: c))
    }
}
