import Foundation

/// What a path is, from its `stat` mode: the one place that names file types in error messages
/// (a model, config, image or output path that is a directory, FIFO or device).
public enum FileKind: Equatable {
    case regular, directory, fifo, characterDevice, blockDevice, socket, symbolicLink, other

    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: self = .other
        }
    }

    /// The kind of what `path` is (links followed); nil when nothing is there or stat fails.
    public init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(mode: st.st_mode)
    }

    /// "directory", "FIFO", "character device", ...
    public var noun: String {
        switch self {
        case .regular: return "regular file"
        case .directory: return "directory"
        case .fifo: return "FIFO"
        case .characterDevice: return "character device"
        case .blockDevice: return "block device"
        case .socket: return "socket"
        case .symbolicLink: return "symbolic link"
        case .other: return "special file"
        }
    }

    /// Why a file of this kind cannot be read as a regular one ("is a directory", "is a named pipe
    /// (FIFO), not a regular file", ...); nil for a regular file.
    public var notRegularReason: String? {
        switch self {
        case .regular: return nil
        case .directory: return "is a directory"
        case .fifo: return "is a named pipe (FIFO), not a regular file"
        case .characterDevice, .blockDevice: return "is a device, not a regular file"
        case .socket: return "is a socket, not a regular file"
        case .symbolicLink, .other: return "is not a regular file"
        }
    }
}
