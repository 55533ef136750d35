import Foundation
import XCTest

/// The unit file passes systemd-analyze verify, has exposure ≤ 2.5, and `make install`
/// lays out a working installation.
final class SystemdTests: XCTestCase {
    func testUnitVerifies() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // verify checks that ExecStart exists: point it at the freshly built binary.
        let unit = try String(contentsOfFile: CLI.root.appendingPathComponent("systemd/emotiond.service").path, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/emotiond", with: CLI.binary)
        let p = dir.appendingPathComponent("emotiond.service").path
        try unit.write(toFile: p, atomically: true, encoding: .utf8)
        let r = try CLI.run(["verify", p], executable: "/usr/bin/systemd-analyze")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
    }

    func testSecurityExposure() throws {
        let r = try CLI.run(["security", "--offline=true", CLI.root.appendingPathComponent("systemd/emotiond.service").path], executable: "/usr/bin/systemd-analyze")
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") }, r.stdout)
        let value = try XCTUnwrap(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, String(line))
        print("systemd-analyze security exposure: \(value)")
        XCTAssertLessThanOrEqual(value, 2.5)
        for directive in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "DynamicUser=yes", "SupplementaryGroups=video", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "RestrictAddressFamilies=", "SystemCallFilter="] {
            XCTAssertTrue(try String(contentsOfFile: CLI.root.appendingPathComponent("systemd/emotiond.service").path, encoding: .utf8).contains(directive), directive)
        }
    }

    /// The per-camera template is emotiond.service with only the instance lines changed, so the
    /// hardening cannot drift between the two.
    func testTemplateDiffersOnlyInInstanceLines() throws {
        let read = { (n: String) in try String(contentsOfFile: CLI.root.appendingPathComponent("systemd/\(n)").path, encoding: .utf8) }
        let template = try read("emotiond@.service").split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0.hasPrefix("#") }   // the header comment
            .joined(separator: "\n")
        let expected = try read("emotiond.service")
            .replacingOccurrences(of: "detection daemon\n", with: "detection daemon, camera %i\n")
            .replacingOccurrences(of: "/etc/emotiond/emotiond.yaml", with: "/etc/emotiond/%i.yaml")
            .replacingOccurrences(of: "LogsDirectory=emotiond\n", with: "LogsDirectory=emotiond/%i\n")
            .replacingOccurrences(of: "StateDirectory=emotiond\n", with: "StateDirectory=emotiond/%i\n")
            .replacingOccurrences(of: "systemctl edit emotiond\n", with: "systemctl edit emotiond@NAME\n")
        XCTAssertEqual(template, expected)
    }

    /// An instance of the template, with the LAN drop-in beside it, verifies without a warning and keeps
    /// the exposure bound; a bad address in the drop-in is reported (so the drop-in was read).
    func testTemplateInstanceWithLANDropIn() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let unit = try String(contentsOfFile: CLI.root.appendingPathComponent("systemd/emotiond@.service").path, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/emotiond", with: CLI.binary)
        let p = dir.appendingPathComponent("emotiond@front.service").path
        try unit.write(toFile: p, atomically: true, encoding: .utf8)
        let dropIn = dir.appendingPathComponent("emotiond@front.service.d")
        try FileManager.default.createDirectory(at: dropIn, withIntermediateDirectories: true)
        let lan = dropIn.appendingPathComponent("lan.conf")
        try FileManager.default.copyItem(at: CLI.root.appendingPathComponent("systemd/emotiond-lan.conf"), to: lan)
        let ok = try CLI.run(["verify", p], executable: "/usr/bin/systemd-analyze")
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertFalse(ok.stderr.contains("lan.conf"), ok.stderr)
        let s = try CLI.run(["security", "--offline=true", p], executable: "/usr/bin/systemd-analyze")
        XCTAssertTrue(s.stdout.contains("Overall exposure level for emotiond@front.service: 1."), s.stdout)
        try (String(contentsOf: lan, encoding: .utf8) + "IPAddressAllow=not-an-address\n").write(to: lan, atomically: true, encoding: .utf8)
        let bad = try CLI.run(["verify", p], executable: "/usr/bin/systemd-analyze")
        XCTAssertTrue(bad.stderr.contains("lan.conf") && bad.stderr.contains("not-an-address"), bad.stderr)
    }

    func testMakeInstallLayout() throws {
        let dest = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dest) }
        let r = try CLI.run(["install", "DESTDIR=\(dest.path)", "PREFIX=/usr/local"], executable: "/usr/bin/make")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for f in ["usr/local/bin/emotiond", "usr/local/lib/systemd/system/emotiond.service",
                  "usr/local/lib/systemd/system/emotiond@.service", "usr/local/share/doc/emotiond/emotiond-lan.conf", "etc/emotiond/emotiond.yaml",
                  "usr/local/share/emotiond/models/emotion-fervgg.onnx", "usr/local/share/emotiond/schemas/frame.schema.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dest.appendingPathComponent(f).path), f)
        }
        // The installed binary finds its model under ../share/emotiond and validates the installed config
        // (with a file source instead of the absent camera).
        let cfg = dest.appendingPathComponent("etc/emotiond/emotiond.yaml").path
        var text = try String(contentsOfFile: cfg, encoding: .utf8)
        text = text.replacingOccurrences(of: "  source: null ", with: "  source: \(CLI.media("single_face.mp4")) ")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let c = try CLI.run(["check-config", "--config", cfg], executable: dest.appendingPathComponent("usr/local/bin/emotiond").path, cwd: "/")
        XCTAssertEqual(c.status, 0, c.stderr)
        // `live` finds the window library under ../lib/emotiond (it then stops at the absent X server).
        let l = try CLI.run(["live", "--source", CLI.media("single_face.mp4")], executable: dest.appendingPathComponent("usr/local/bin/emotiond").path,
                            env: ["DISPLAY": ":299", "QT_QPA_PLATFORM": ""], cwd: "/")
        XCTAssertEqual(l.status, 1, l.stderr)
        XCTAssertTrue(l.stderr.contains("cannot connect to the X display"), l.stderr)
    }
}
