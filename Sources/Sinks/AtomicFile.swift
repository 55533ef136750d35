import EmotionCore
import Foundation

/// An output file that only appears under its final name once complete.
///
/// Data goes to a hidden temporary file beside the target; `commit()` renames it into
/// place, `abort()` (or deinit without commit) deletes it. A failed or interrupted run
/// therefore never leaves a partial file that claims success. `-` means stdout.
///
/// A target that exists and is not a regular file (`/dev/null`, a terminal, a FIFO, `/dev/stderr`)
/// is written straight through instead: renaming over it replaced the device node itself — as
/// root, `batch --log /dev/null` turned the system's /dev/null into a regular file. A FIFO with
/// no reader is refused rather than waited on; images and videos (`suffix` set: OpenCV picks the
/// format from the temporary name) must go to a regular file.
public final class AtomicFile {
    public let path: String
    public let tempPath: String
    private var handle: FileHandle?
    private var done = false
    public var isStdout: Bool { path == "-" }
    /// Written straight to an existing non-regular file: nothing to rename or remove.
    private var direct = false

    public init(path: String, suffix: String = "") throws {
        self.path = path
        if path == "-" {
            tempPath = "-"
            handle = FileHandle.standardOutput
            return
        }
        if let kind = FileKind(path: path), kind != .regular {
            guard suffix.isEmpty, kind != .directory else {
                throw SinkError.cannotCreate(path: path, reason: "is a \(kind.noun), not a regular file")
            }
            let fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else {
                let why = errno == ENXIO ? "is a FIFO with no reader" : String(cString: strerror(errno))
                throw SinkError.cannotCreate(path: path, reason: why)
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)   // then block like any stream
            tempPath = path
            direct = true
            handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            return
        }
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw SinkError.cannotCreate(path: path, reason: "directory \(dir) does not exist")
        }
        tempPath = "\(dir)/.\(url.lastPathComponent).partial-\(getpid())\(suffix)"
        let fd = TempFiles.create(tempPath)
        guard fd >= 0 else { throw SinkError.cannotCreate(path: path, reason: String(cString: strerror(errno))) }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
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
        if direct { try? handle?.close(); handle = nil; return }
        if let handle { try? handle.synchronize(); try? handle.close() }
        handle = nil
        defer { TempFiles.forget(tempPath) }
        guard rename(tempPath, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(tempPath)
            throw SinkError.writeFailed(path: path, reason: why)
        }
    }

    public func abort() {
        guard !done else { return }
        done = true
        if direct { try? handle?.close() } else if !isStdout { try? handle?.close(); unlink(tempPath); TempFiles.forget(tempPath) }
        handle = nil
    }

    deinit { abort() }
}

/// This process's temporary output files, so that SIGINT/SIGTERM can remove them before exiting
/// (atexit handlers and deinit never run when a signal ends the process).
public enum TempFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths = Set<String>()
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// Creates `path` exclusively (never through a symlink) and registers it, under the lock, so a
    /// signal handler never sees a file that exists but is not registered yet. A stale file of
    /// the same name (an earlier process with our PID killed with SIGKILL) is replaced.
    static func create(_ path: String) -> Int32 {
        lock.lock(); defer { lock.unlock() }
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        var fd = open(path, flags, 0o644)
        if fd < 0 && errno == EEXIST { unlink(path); fd = open(path, flags, 0o644) }
        if fd >= 0 { paths.insert(path) }
        return fd
    }

    static func forget(_ path: String) { lock.lock(); paths.remove(path); lock.unlock() }

    /// On SIGINT/SIGTERM: removes every registered file and exits 128 + signal (130 / 143).
    /// The lock is held until _exit, so no new temporary file can appear after the sweep.
    public static func removeOnSignals() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler {
                lock.lock()
                for p in paths { unlink(p) }
                let name = sig == SIGINT ? "SIGINT" : "SIGTERM"
                let note = "\nemotiond: interrupted (\(name)); unfinished outputs removed\n"
                FileHandle.standardError.write(Data(note.utf8))
                _exit(128 + sig)
            }
            src.resume()
            sources.append(src)
        }
    }
}

/// Where an output path really points, to refuse outputs that would overwrite an input or each other.
public enum PathIdentity {
    public struct Inode: Hashable { public let dev: UInt64, ino: UInt64 }

    /// Device and inode of the file `path` names (links followed), nil if it does not exist.
    public static func inode(_ path: String) -> Inode? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Inode(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
    }

    /// The absolute path rename(2) will replace: the directory resolved (symlinks, `.`, `..`), the name kept.
    public static func target(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        guard let r = realpath(dir, nil) else { return url.standardizedFileURL.path }
        defer { free(r) }
        let base = String(cString: r)
        return (base == "/" ? "" : base) + "/" + url.lastPathComponent
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
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
