import Foundation
import XCTest

/// Builds the simulated camera (Tests/simcam/simcam.c) and its frame files once per test run.
enum SimCam {
    static var fixture: (dir: URL, lib: String, yuyv: String, mjpeg: String)?

    /// Builds the simulator and the frame files once (gcc, ffmpeg).
    static func sim() throws -> (dir: URL, lib: String, yuyv: String, mjpeg: String) {
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

    /// `grey`: the camera also offers GREY (the Y bytes of the YUYV frames).
    static func env(_ s: (dir: URL, lib: String, yuyv: String, mjpeg: String), device: String, faults: String = "", yuyv: Bool = true, mjpeg: Bool = true,
                    grey: Bool = false) -> [String: String] {
        var e = ["LD_PRELOAD": s.lib, "SIMCAM_DEVICE": device, "SIMCAM_FAULTS": faults]
        if grey { e["SIMCAM_GREY"] = "1" }
        if yuyv { e["SIMCAM_YUYV"] = s.yuyv }
        if mjpeg { e["SIMCAM_MJPEG"] = s.mjpeg }
        return e
    }

    static func device(_ dir: URL) throws -> String {
        let p = dir.appendingPathComponent("video\(Int.random(in: 10...99))").path
        FileManager.default.createFile(atPath: p, contents: nil)   // so stat() finds it; opens are simulated
        return p
    }

}
