import Foundation
import XCTest

/// `emotiond live` in a real X server (Xvfb) on the simulated camera fed WolfgangLanger_Pexels.mp4:
/// a screenshot shows the face box and label; the q key ends the program with exit 0.
final class LiveWindowTests: XCTestCase {
    func testWindowShowsBoxAndLabelAndQuitsOnQ() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let display = ":\(Int.random(in: 50...250))"
        let xvfb = try Child("/usr/bin/Xvfb", [display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"], dir: dir, name: "xvfb")
        defer { xvfb.signal(SIGTERM) }
        usleep(800_000)
        // Simulated camera (same fixture builder as the capture tests).
        let s = try SimCam.sim()
        let dev = try SimCam.device(dir)
        var env = SimCam.env(s, device: dev, yuyv: true, mjpeg: false)
        env["DISPLAY"] = display
        // Qt's MIT-SHM image transport can leave windows blank on containerised X servers.
        env["QT_X11_NO_MITSHM"] = "1"
        let liveLog = dir.appendingPathComponent("live.ndjson").path
        let live = try Child(CLI.binary, ["live", "--device", dev, "--format", "yuyv", "--log", liveLog], env: env, dir: dir, name: "live")
        defer { live.signal(SIGKILL) }
        // Poll screenshots until the overlay is drawn (start-up time varies with machine load).
        let shot = dir.appendingPathComponent("screen.png").path
        var colours: [String: [String: Any]] = [:]
        var probeOut = ""
        func boxDrawn() -> Bool {
            guard let best = colours.values.max(by: { ($0["pixels"] as! Int) < ($1["pixels"] as! Int) }), let b = best["bbox"] as? [Int] else { return false }
            return (best["pixels"] as! Int) > 800 && b[2] - b[0] > 100 && b[3] - b[1] > 100
        }
        for _ in 0..<30 {
            sleep(1)
            XCTAssertNil(live.wait(0), "live exited early: \(live.stderr)")
            guard try CLI.run(["-display", display, "-window", "root", shot], executable: "/usr/bin/import").status == 0 else { continue }
            let probe = try CLI.run([CLI.root.appendingPathComponent("tools/ui_probe.py").path, shot], executable: CLI.python)
            XCTAssertEqual(probe.status, 0, probe.stderr)
            probeOut = probe.stdout
            colours = (try? JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: [String: Any]]) ?? [:]
            if boxDrawn() { break }
        }
        // The box (≥ 2 px outline around a ≥ 100 px face) and the filled label share one emotion colour.
        if !boxDrawn() {
            let frames = (try? CLI.lines(liveLog)) ?? []
            let kept = "/tmp/emotiond-live-failure.png"
            try? FileManager.default.removeItem(atPath: kept)
            try? FileManager.default.copyItem(atPath: shot, toPath: kept)
            XCTFail("no face box in the screenshot (kept at \(kept)): \(probeOut); live logged \(frames.count) frames, \(frames.filter { !($0["faces"] as! [Any]).isEmpty }.count) with faces; stderr: \(live.stderr); xvfb: \(xvfb.stderr)")
        }
        if let best = colours.max(by: { ($0.value["pixels"] as! Int) < ($1.value["pixels"] as! Int) }) {
            print("live window: box and label drawn in the \(best.key) colour, bbox \(best.value["bbox"] ?? "none")")
        }
        // q ends the program with status 0.
        let win = try CLI.run(["search", "--name", "^emotiond$"], executable: "/usr/bin/xdotool", env: ["DISPLAY": display])
        let wid = try XCTUnwrap(win.stdout.split(separator: "\n").first.map(String.init), "no emotiond window: \(win.stdout)\(win.stderr)")
        let key = try CLI.run(["key", "--window", wid, "q"], executable: "/usr/bin/xdotool", env: ["DISPLAY": display])
        XCTAssertEqual(key.status, 0, key.stderr)
        XCTAssertEqual(live.wait(5), 0, live.stderr)
    }

    func testNoDisplayIsAClearError() throws {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DISPLAY"); env.removeValue(forKey: "WAYLAND_DISPLAY")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = ["live", "--source", CLI.media("single_face.mp4")]
        p.environment = env
        let err = Pipe(); p.standardError = err; p.standardOutput = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        let msg = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 1)
        XCTAssertTrue(msg.contains("no display: DISPLAY is not set"), msg)
        XCTAssertTrue(msg.contains("emotiond run"), msg)
    }

    /// highgui lives in libEmotiondWindow.so, loaded only by `live`: the binary does not link it, and a
    /// binary without the library next to it names the library and what it tried instead of crashing.
    func testWindowLibraryIsLoadedOnDemand() throws {
        let needed = try CLI.run(["-d", CLI.binary], executable: "/usr/bin/readelf")
        XCTAssertEqual(needed.status, 0, needed.stderr)
        XCTAssertTrue(needed.stdout.contains("libopencv_videoio"), needed.stdout)
        XCTAssertFalse(needed.stdout.contains("highgui"), "the binary links highgui: \(needed.stdout)")
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lone = dir.appendingPathComponent("emotiond").path
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: lone)
        let r = try CLI.run(["live", "--source", CLI.media("single_face.mp4")], executable: lone,
                            env: ["DISPLAY": ":1", "EMOTIOND_WINDOW_LIB": ""], cwd: CLI.root.path)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot load the window library libEmotiondWindow.so"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(dir.path)/libEmotiondWindow.so: not found"), r.stderr)
    }

    /// DISPLAY set to an X server that is not there: Qt would abort the process; emotiond says so and exits 1.
    func testUnreachableDisplayIsAClearError() throws {
        let r = try CLI.run(["live", "--source", CLI.media("single_face.mp4")], env: ["DISPLAY": ":299", "QT_QPA_PLATFORM": ""])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot connect to the X display DISPLAY=:299"), r.stderr)
    }
}
