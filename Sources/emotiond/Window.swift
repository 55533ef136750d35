import CVBridge
import EmotionCore
import Foundation
import Imaging
#if canImport(Glibc)
import Glibc
#endif

/// The OpenCV window, from `libEmotiondWindow.so` (Sources/CVWindow) loaded with dlopen.
///
/// highgui is not linked into the binary: it drags in Qt5, OpenGL and their dependencies
/// (12 shared libraries, ~7.4 MiB resident), which the batch, image and daemon modes never use.
/// Only `emotiond live` pays for them, when it opens the window.
final class HighGUIWindow {
    typealias OpenFn = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>, Int) -> Int32
    typealias ShowFn = @convention(c) (UnsafePointer<CChar>, UnsafePointer<UInt8>, Int32, Int32, Int, Int32,
                                       UnsafeMutablePointer<CChar>, Int) -> Int32
    typealias WaitKeyFn = @convention(c) (Int32) -> Int32
    typealias CloseAllFn = @convention(c) () -> Void
    typealias VersionFn = @convention(c) () -> Int32

    static let libraryName = "libEmotiondWindow.so"
    static let abiVersion: Int32 = 1

    let title: String
    private let showFn: ShowFn, waitKeyFn: WaitKeyFn, closeAllFn: CloseAllFn

    /// Where the library is looked for: $EMOTIOND_WINDOW_LIB alone when set; else next to the binary (the SwiftPM
    /// build directory), ../lib/emotiond/ beside an installed binary, then the loader's path.
    static var candidates: [String] {
        if let p = ProcessInfo.processInfo.environment["EMOTIOND_WINDOW_LIB"], !p.isEmpty { return [p] }
        var c: [String] = []
        let dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        c.append(dir.appendingPathComponent(libraryName).path)
        c.append(dir.deletingLastPathComponent().appendingPathComponent("lib/emotiond/\(libraryName)").path)
        c.append(libraryName)
        return c
    }

    /// Loads the library and opens a window named `title`.
    init(title: String) throws {
        var handle: UnsafeMutableRawPointer?
        var failures: [String] = []
        for path in Self.candidates {
            if path.hasPrefix("/") && !FileManager.default.fileExists(atPath: path) {
                failures.append("\(path): not found"); continue
            }
            if let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) { handle = h; break }
            failures.append(dlerror().map { String(cString: $0) } ?? "\(path): dlopen failed")
        }
        guard let handle else {
            throw RunError("cannot load the window library \(Self.libraryName) (built by `swift build` next to the binary): \(failures.joined(separator: "; "))")
        }
        func sym<T>(_ name: String, _: T.Type) throws -> T {
            guard let p = dlsym(handle, name) else { throw RunError("window library \(Self.libraryName) lacks \(name)") }
            return unsafeBitCast(p, to: T.self)
        }
        let version = try sym("cvw_abi_version", VersionFn.self)()
        guard version == Self.abiVersion else {
            throw RunError("window library \(Self.libraryName) has interface version \(version), this binary needs \(Self.abiVersion): rebuild both")
        }
        let open = try sym("cvw_open", OpenFn.self)
        showFn = try sym("cvw_show", ShowFn.self)
        waitKeyFn = try sym("cvw_wait_key", WaitKeyFn.self)
        closeAllFn = try sym("cvw_close_all", CloseAllFn.self)
        self.title = title
        var err = [CChar](repeating: 0, count: 512)
        guard open(title, &err, err.count) == 1 else { throw RunError("cannot open window: \(String(cString: err))") }
    }

    /// Shows a frame (BGR).
    func show(_ frame: Frame) throws {
        var err = [CChar](repeating: 0, count: 512)
        let ok: Int32 = frame.withBridgeImage { img in
            guard let data = img.pointee.data else { return 0 }
            return showFn(title, data, img.pointee.width, img.pointee.height, img.pointee.stride, img.pointee.channels, &err, err.count)
        }
        if ok != 1 { throw RunError("cannot show the window: \(String(cString: err))") }
    }

    /// Processes window events for up to `ms` milliseconds; returns the key pressed or -1.
    func waitKey(_ ms: Int32) -> Int32 { waitKeyFn(ms) }

    func close() { closeAllFn() }
}
