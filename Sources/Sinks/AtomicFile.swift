import Foundation

/// An output file that only appears under its final name once complete.
///
/// Data goes to a hidden temporary file beside the target; `commit()` renames it into
/// place, `abort()` (or deinit without commit) deletes it. A failed or interrupted run
/// therefore never leaves a partial file that claims success. `-` means stdout.
public final class AtomicFile {
    public let path: String
    public let tempPath: String
    private var handle: FileHandle?
    private var done = false
    public var isStdout: Bool { path == "-" }

    public init(path: String, suffix: String = "") throws {
        self.path = path
        if path == "-" {
            tempPath = "-"
            handle = FileHandle.standardOutput
            return
        }
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw SinkError.cannotCreate(path: path, reason: "directory \(dir) does not exist")
        }
        tempPath = "\(dir)/.\(url.lastPathComponent).partial-\(getpid())\(suffix)"
        guard FileManager.default.createFile(atPath: tempPath, contents: nil), let h = FileHandle(forWritingAtPath: tempPath) else {
            throw SinkError.cannotCreate(path: path, reason: String(cString: strerror(errno)))
        }
        handle = h
    }

    /// Appends bytes; one write(2) per call so a line is never split by our own buffering.
    public func write(_ data: Data) throws {
        guard let handle else { return }
        do { try handle.write(contentsOf: data) } catch {
            throw SinkError.writeFailed(path: path, reason: "\(error.localizedDescription)")
        }
    }

    /// Closes our handle without committing (for files written by another writer, e.g. video).
    public func closeHandle() {
        if !isStdout { try? handle?.close() }
        handle = nil
    }

    public func commit() throws {
        guard !done else { return }
        done = true
        if isStdout { return }
        if let handle { try? handle.synchronize(); try? handle.close() }
        handle = nil
        guard rename(tempPath, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(tempPath)
            throw SinkError.writeFailed(path: path, reason: why)
        }
    }

    public func abort() {
        guard !done else { return }
        done = true
        if !isStdout { try? handle?.close(); unlink(tempPath) }
        handle = nil
    }

    deinit { abort() }
}

public enum SinkError: Error, CustomStringConvertible {
    case cannotCreate(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    public var description: String {
        switch self {
        case let .cannotCreate(p, r): return "cannot create \(p): \(r)"
        case let .writeFailed(p, r): return "cannot write \(p): \(r)"
        }
    }
}

/// Newline-delimited JSON writer (one object per line, sorted keys).
public final class NDJSONWriter {
    public let file: AtomicFile
    private let encoder: JSONEncoder

    public init(path: String) throws {
        file = try AtomicFile(path: path)
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    public func write<T: Encodable>(_ value: T) throws {
        var d = try encoder.encode(value)
        d.append(0x0A)
        try file.write(d)
    }

    public func commit() throws { try file.commit() }
    public func abort() { file.abort() }
}
