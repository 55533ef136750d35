import Foundation
import XCTest

/// The V4L2 capture loop driven through the simulated camera (Tests/simcam/simcam.c, LD_PRELOAD):
/// real ioctl/mmap streaming code, frames decoded from a real video, injected faults.
final class CaptureTests: XCTestCase {
    func config(_ dir: URL, device: String, format: String, log: String, extra: String = "") throws -> String {
        let p = dir.appendingPathComponent("cam-\(UUID().uuidString).yaml").path
        try ("camera:\n  device: \(device)\n  format: \(format)\n  timeout: 1.0\noutputs:\n  log:\n    path: \(log)\n" + extra)
            .write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testDevicesListsFormatsSizesRates() throws {
        let s = try SimCam.sim(); let dir = try CLI.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let dev = try SimCam.device(dir)
        let r = try CLI.run(["devices", dev], env: SimCam.env(s, device: dev))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\(dev): simcam UVC Camera (driver uvcvideo, usb-simcam-1); video-capture, streaming"), r.stdout)
        XCTAssertTrue(r.stdout.contains("YUYV YUYV 4:2:2"), r.stdout + r.stderr + "\(SimCam.env(s, device: dev))")
        XCTAssertTrue(r.stdout.contains("MJPG Motion-JPEG"), r.stdout + r.stderr + "\(SimCam.env(s, device: dev))")
        XCTAssertTrue(r.stdout.contains("640x480 @ 30, 15 fps"), r.stdout)
    }

    /// `extra`: more configuration (YAML appended); `inspect` sees the run's directory before it goes.
    func runCamera(format: String, faults: String = "", seconds: UInt32, yuyv: Bool = true, mjpeg: Bool = true, grey: Bool = false,
                   extra: (URL) -> String = { _ in "" }, inspect: ((URL) throws -> Void)? = nil,
                   probe: ((Child) -> Void)? = nil) throws -> (stderr: String, frames: [[String: Any]], status: Int32?) {
        let s = try SimCam.sim(); let dir = try CLI.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let dev = try SimCam.device(dir), log = dir.appendingPathComponent("frames.ndjson").path
        let d = try Child(CLI.binary, ["run", "--config", try config(dir, device: dev, format: format, log: log, extra: extra(dir))],
                          env: SimCam.env(s, device: dev, faults: faults, yuyv: yuyv, mjpeg: mjpeg, grey: grey), dir: dir, name: "daemon")
        sleep(seconds)
        probe?(d)
        d.signal(SIGTERM)
        let st = d.wait(3)
        let frames = FileManager.default.fileExists(atPath: log) ? try CLI.lines(log) : []
        try inspect?(dir)
        return (d.stderr, frames, st)
    }

    func testNegotiatesYUYV() throws {
        let r = try runCamera(format: "yuyv", seconds: 3)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(": 640x480 YUYV @ 30 fps"), r.stderr)
        XCTAssertTrue(r.stderr.contains("buffers, gray plane only"), "no snapshots, a gray model: no BGR conversion. \(r.stderr)")
        XCTAssertGreaterThan(r.frames.count, 20)
        XCTAssertTrue(r.frames.allSatisfy { $0["width"] as? Int == 640 && $0["height"] as? Int == 480 })
        XCTAssertGreaterThan(r.frames.filter { !($0["faces"] as! [Any]).isEmpty }.count, r.frames.count / 2, "the face is found in camera frames")
    }

    /// A GREY camera's plane goes to detection as it is (the daemon asks no colour without snapshots).
    func testNegotiatesGREY() throws {
        let r = try runCamera(format: "grey", seconds: 3, grey: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(": 640x480 GREY @ 30 fps"), r.stderr)
        XCTAssertGreaterThan(r.frames.count, 20)
        XCTAssertGreaterThan(r.frames.filter { !($0["faces"] as! [Any]).isEmpty }.count, r.frames.count / 2, "the face is found in GREY frames")
    }

    /// A colour model (RGB crops) makes the camera deliver BGR even without snapshots, and the
    /// log carries that model's labels.
    func testColourModelGetsColourFrames() throws {
        let model = ModelContractTests.models.appendingPathComponent("six_rgb64.onnx").path
        guard FileManager.default.fileExists(atPath: model) else { return XCTFail("\(model) missing (scripts/test.sh generates it)") }
        let r = try runCamera(format: "yuyv", seconds: 3, extra: { _ in "model:\n  path: \(model)\n" })
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("buffers, BGR and gray plane"), r.stderr)
        let faces = r.frames.flatMap { $0["faces"] as! [[String: Any]] }
        XCTAssertFalse(faces.isEmpty, r.stderr)
        let six: Set<String> = ["angry", "disgust", "happy", "sad", "surprise", "neutral"]
        XCTAssertTrue(faces.allSatisfy { Set(($0["scores"] as! [String: Any]).keys) == six })
    }

    /// With snapshot_dir the camera delivers colour again: snapshots are colour PNGs (IHDR colour type 2).
    func testSnapshotsFromCameraAreInColour() throws {
        var pngs: [[UInt8]] = []
        let r = try runCamera(format: "yuyv", seconds: 4, extra: { dir in
            let snaps = dir.appendingPathComponent("snaps")
            try? FileManager.default.createDirectory(at: snaps, withIntermediateDirectories: true)
            return "privacy:\n  snapshot_dir: \(snaps.path)\n"
        }, inspect: { dir in
            let snaps = dir.appendingPathComponent("snaps")
            pngs = try FileManager.default.contentsOfDirectory(atPath: snaps.path).filter { $0.hasSuffix(".png") }
                .map { [UInt8](try Data(contentsOf: snaps.appendingPathComponent($0))) }
        })
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(pngs.isEmpty, "a new track writes a snapshot: \(r.stderr)")
        XCTAssertTrue(pngs.allSatisfy { $0.count > 25 && $0[25] == 2 }, "snapshots are RGB PNGs")
    }

    func testNegotiatesMJPEGAndFallsBack() throws {
        let r = try runCamera(format: "mjpeg", seconds: 3)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(": 640x480 MJPG @ 30 fps"), r.stderr)
        XCTAssertGreaterThan(r.frames.count, 20)
        // auto on a camera that only offers MJPEG picks MJPEG.
        let auto = try runCamera(format: "auto", seconds: 2, yuyv: false)
        XCTAssertTrue(auto.stderr.contains(": 640x480 MJPG @ 30 fps"), auto.stderr)
    }

    func testCorruptFramesSkippedUnplugAndEIORecovered() throws {
        let r = try runCamera(format: "mjpeg", faults: "corrupt@20,unplug@45:1500,eio@120", seconds: 8)
        XCTAssertEqual(r.status, 0, "the daemon never exits on camera faults: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("skipped: corrupt JPEG frame"), r.stderr)
        XCTAssertTrue(r.stderr.contains("VIDIOC_DQBUF: No such device; reopening"), r.stderr)
        XCTAssertTrue(r.stderr.contains("VIDIOC_DQBUF: Input/output error; reopening"), r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: "streaming again").count - 1, 2, r.stderr)
        // Frames keep coming after the replug (media time is seconds since capture start).
        XCTAssertGreaterThan(r.frames.filter { ($0["media_time"] as! Double) > 4 }.count, 10)
    }

    func testStallIsReportedAndRetried() throws {
        let r = try runCamera(format: "yuyv", faults: "stall@30:2500", seconds: 6)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("no frame for 1.0 s; reopening"), r.stderr)
        XCTAssertTrue(r.stderr.contains("streaming again"), r.stderr)
    }

    func testBusyDevice() throws {
        let s = try SimCam.sim(); let dir = try CLI.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let dev = try SimCam.device(dir), log = dir.appendingPathComponent("f.ndjson").path
        let cfg = try config(dir, device: dev, format: "auto", log: log)
        let r = try CLI.run(["run", "--config", cfg], env: SimCam.env(s, device: dev, faults: "busy"))
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("camera.device: cannot open camera \(dev): device busy (another program is using it)"), r.stderr)
    }

    func testTenSecondStreamDoesNotLeak() throws {
        func sample(_ pid: Int32) -> (fds: Int, maps: Int, rssKiB: Int) {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
            let maps = ((try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)) ?? "").split(separator: "\n").count
            let rss = ((try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? "").split(separator: "\n")
                .first { $0.hasPrefix("VmRSS:") }.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? -1
            return (fds, maps, rss)
        }
        var early = (fds: 0, maps: 0, rssKiB: 0), late = early
        let r = try runCamera(format: "yuyv", seconds: 0) { d in
            sleep(3); early = sample(d.process.processIdentifier)
            sleep(10); late = sample(d.process.processIdentifier)
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        print("capture soak: fds \(early.fds)→\(late.fds), maps \(early.maps)→\(late.maps), RSS \(early.rssKiB)→\(late.rssKiB) KiB, \(r.frames.count) frames")
        XCTAssertGreaterThan(r.frames.count, 150)
        XCTAssertEqual(late.fds, early.fds, "file descriptors")
        XCTAssertLessThanOrEqual(abs(late.maps - early.maps), 4, "memory mappings")
        XCTAssertLessThan(late.rssKiB - early.rssKiB, 8 * 1024, "RSS growth")
    }
}
