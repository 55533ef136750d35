import Foundation
import XCTest
@testable import Inference

/// Locates test inputs. Generated fixtures (tools/reference/make_reference.py, run by
/// scripts/test.sh) live in Tests/fixtures/generated; a missing fixture fails the test.
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var generated: URL {
        if let p = ProcessInfo.processInfo.environment["EMOTIOND_FIXTURES"] { return URL(fileURLWithPath: p) }
        return repoRoot.appendingPathComponent("Tests/fixtures/generated")
    }

    static func require(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("missing fixture \(url.path): run tools/reference/make_reference.py (scripts/test.sh does)", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    static func floats(_ url: URL) throws -> [Float] {
        let d = try Data(contentsOf: url)
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
