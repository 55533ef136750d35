import Foundation
@testable import Sinks
import XCTest

/// Outputs aimed at something that is not a regular file: written through, never renamed over.
/// (Renaming the finished temporary file over `/dev/null` replaced the device node with a regular
/// file when run as root.) The device here is a private node made with mknod, not the system's.
final class AtomicFileTargetsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func kind(_ path: String) -> mode_t {
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0, path)
        return st.st_mode & S_IFMT
    }

    func testCharacterDeviceIsWrittenThroughAndStaysADevice() throws {
        let node = dir.appendingPathComponent("null").path
        // The suite runs as root (README: tests on a fresh Debian 12 as root); a copy of /dev/null.
        guard mknod(node, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0 else {   // makedev(1, 3): a macro Swift lacks
            return XCTFail("mknod \(node): \(String(cString: strerror(errno))) (the tests need root)")
        }
        let f = try AtomicFile(path: node)
        try f.write(Data("{\"frame\":1}\n".utf8))
        try f.commit()
        XCTAssertEqual(kind(node), S_IFCHR, "the device node was replaced")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(left, ["null"], "no temporary file may be left beside it")

        // An image or video cannot be encoded onto a device: a named error, the node untouched.
        XCTAssertThrowsError(try AtomicFile(path: node, suffix: ".png")) { e in
            XCTAssertTrue("\(e)".contains("is a character device, not a regular file"), "\(e)")
        }
        XCTAssertEqual(kind(node), S_IFCHR)
    }

    func testFIFOWithAReaderGetsTheLinesAndStaysAFIFO() throws {
        let fifo = dir.appendingPathComponent("pipe").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        final class Sink: @unchecked Sendable { var data = Data() }   // read only after the thread ends
        let got = Sink()
        let reader = Thread {
            let fd = open(fifo, O_RDONLY)
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &buf, buf.count)
                if n <= 0 { break }
                got.data.append(contentsOf: buf[0..<n])
            }
            close(fd)
        }
        reader.start()
        // The reader opens asynchronously: retry briefly while the FIFO has none yet.
        var file: AtomicFile?
        for _ in 0..<200 where file == nil {
            file = try? AtomicFile(path: fifo)
            if file == nil { usleep(10_000) }
        }
        let f = try XCTUnwrap(file, "no reader appeared on the FIFO")
        try f.write(Data("a\nb\n".utf8))
        try f.commit()
        // Bounded: had the FIFO been renamed over, its reader would wait for a writer forever.
        let deadline = Date().addingTimeInterval(5)
        while !reader.isFinished && Date() < deadline { usleep(1_000) }
        XCTAssertTrue(reader.isFinished, "the FIFO's reader never saw the end of the output")
        XCTAssertEqual(String(decoding: got.data, as: UTF8.self), "a\nb\n")
        XCTAssertEqual(kind(fifo), S_IFIFO, "the FIFO was replaced")
    }

    func testFIFOWithoutAReaderIsRefusedWithoutWaiting() throws {
        let fifo = dir.appendingPathComponent("lonely").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try AtomicFile(path: fifo)) { e in
            XCTAssertTrue("\(e)".contains("is a FIFO with no reader"), "\(e)")
        }
        XCTAssertEqual(kind(fifo), S_IFIFO)
    }

    func testRegularFileIsStillReplacedOnlyAtCommit() throws {
        let path = dir.appendingPathComponent("log.ndjson").path
        try Data("old\n".utf8).write(to: URL(fileURLWithPath: path))
        let f = try AtomicFile(path: path)
        try f.write(Data("new\n".utf8))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old\n", "visible before commit")
        try f.commit()
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new\n")
    }
}
