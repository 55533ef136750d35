import Foundation
import XCTest

/// The V4L2 capture loop driven through the simulated camera (Tests/simcam/simcam.c, LD_PRELOAD):
/// real ioctl/mmap streaming code, frames decoded from a real video, injected faults.
final class CaptureTests: XCTestCase {
    static var fixture: (dir: URL, lib: String, yuyv: String, mjpeg: String)?

    /// Builds the simulator and the frame files once (gcc, ffmpeg).
    func sim() throws -> (dir: URL, lib: String, yuyv: String, mjpeg: String) {
        if let f = Self.fixture { return f }
        let dir = try CLI.tempDir()
        let lib = dir.appendingPathComponent("libsimcam.so").path
        let cc = try CLI.run(["-shared", "-fPIC", "-O2", "-o", lib, CLI.root.appendingPathComponent("Tests/simcam/simcam.c").path, "-ldl", "-lpthread"], executable: "/usr/bin/gcc")
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let yuyv = dir.appendingPathComponent("frames.yuyv").path, mjpeg = dir.appendingPathComponent("frames.mjpeg").path
        for (args, out) in [(["-frames:v", "60", "-vf", "scale=640:480", "-pix_fmt", "yuyv422", "-f", "rawvideo"], yuyv),
                            (["-frames:v", "120", "-vf", "scale=640:480", "-q:v", "5", "-f", "mjpeg"], mjpeg)] {
            let r = try CLI.run(["-v", "error", "-y", "-i", CLI.media("WolfgangLanger_Pexels.mp4")] + args + [out], executable: "/usr/bin/ffmpeg")
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        Self.fixture = (dir, lib, yuyv, mjpeg)
        return Self.fixture!
    }

    func env(_ s: (dir: URL, lib: String, yuyv: String, mjpeg: String), device: String, faults: String = "", yuyv: Bool = true, mjpeg: Bool = true) -> [String: String] {
        var e = ["LD_PRELOAD": s.lib, "SIMCAM_DEVICE": device, "SIMCAM_FAULTS": faults]
        if yuyv { e["SIMCAM_YUYV"] = s.yuyv }
        if mjpeg { e["SIMCAM_MJPEG"] = s.mjpeg }
        return e
    }

    func device(_ dir: URL) throws -> String {
        let p = dir.appendingPathComponent("video\(Int.random(in: 10...99))").path
        FileManager.default.createFile(atPath: p, contents: nil)   // so stat() finds it; opens are simulated
        return p
    }

    func config(_ dir: URL, device: String, format: String, log: String) throws -> String {
        let p = dir.appendingPathComponent("cam-\(UUID().uuidString).yaml").path
        try "camera:\n  device: \(device)\n  format: \(format)\n  timeout: 1.0\noutputs:\n  log:\n    path: \(log)\n".write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testDevicesListsFormatsSizesRates() throws {
        let s = try sim(); let dir = try CLI.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let dev = try device(dir)
        let r = try CLI.run(["devices", dev], env: env(s, device: dev))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\(dev): simcam UVC Camera (driver uvcvideo, usb-simcam-1); video-capture, streaming"), r.stdout)
        XCTAssertTrue(r.stdout.contains("YUYV YUYV 4:2:2"), r.stdout + r.stderr + "\(env(s, device: dev))")
        XCTAssertTrue(r.stdout.contains("MJPG Motion-JPEG"), r.stdout + r.stderr + "\(env(s, device: dev))")
        XCTAssertTrue(r.stdout.contains("640x480 @ 30, 15 fps"), r.stdout)
    }

    func runCamera(format: String, faults: String = "", seconds: UInt32, yuyv: Bool = true, mjpeg: Bool = true,
                   probe: ((Child) -> Void)? = nil) throws -> (stderr: String, frames: [[String: Any]], status: Int32?) {
        let s = try sim(); let dir = try CLI.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let dev = try device(dir), log = dir.appendingPathComponent("frames.ndjson").path
        let d = try Child(CLI.binary, ["run", "--config", try config(dir, device: dev, format: format, log: log)],
                          env: env(s, device: dev, faults: faults, yuyv: yuyv, mjpeg: mjpeg), dir: dir, name: "daemon")
        sleep(seconds)
        probe?(d)
        d.signal(SIGTERM)
        let st = d.wait(3)
        let frames = FileManager.default.fileExists(atPath: log) ? try CLI.lines(log) : []
        return (d.stderr, frames, st)
    }

    func testNegotiatesYUYV() throws {
        let r = try runCamera(format: "yuyv", seconds: 3)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(": 640x480 YUYV @ 30 fps"), r.stderr)
        XCTAssertGreaterThan(r.frames.count, 20)
        XCTAssertTrue(r.frames.allSatisfy { $0["width"] as? Int == 640 && $0["height"] as? Int == 480 })
        XCTAssertGreaterThan(r.frames.filter { !($0["faces"] as! [Any]).isEmpty }.count, r.frames.count / 2, "the face is found in camera frames")
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
        let s = try sim(); let dir = try CLI.tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let dev = try device(dir), log = dir.appendingPathComponent("f.ndjson").path
        let cfg = try config(dir, device: dev, format: "auto", log: log)
        let r = try CLI.run(["run", "--config", cfg], env: env(s, device: dev, faults: "busy"))
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
