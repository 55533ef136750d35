import Foundation
import Sinks
import XCTest

/// The daemon's log is opened with O_NOFOLLOW: a symlink planted at the log path is refused, and
/// the file it points to keeps every byte (before, its tail was cut and NDJSON appended).
final class RotatingLogLinkTests: XCTestCase {
    func testSymlinkAtTheLogPathIsRefusedAndItsTargetUntouched() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("emotiond-link-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("precious.txt").path
        let text = "line one\npartial line without newline"
        try text.write(toFile: target, atomically: true, encoding: .utf8)
        let link = dir.appendingPathComponent("frames.ndjson").path
        XCTAssertEqual(symlink(target, link), 0)
        XCTAssertThrowsError(try RotatingLog(path: link, maxBytes: 1 << 20, keep: 2, flushEvery: 1)) { e in
            XCTAssertTrue("\(e)".contains("symbolic link"), "\(e)")
        }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), text)
    }
}
