import ArgumentParser
import Foundation
import Sinks

/// Output files of `batch` and `image`: `{name}` templates and the checks made before any work.
/// Collisions are refused, not renamed: a silently changed name is an output the user cannot find.
enum OutputPaths {
    /// An output: its option, its path (`{name}` expanded), and for a per-input template the
    /// template and the input it was expanded for.
    struct Output {
        let flag: String, path: String
        var template: String? = nil, input: String? = nil
    }

    /// `template` with `{name}` replaced by the input's file name without extension.
    static func expand(_ template: String, for input: String) -> String {
        template.replacingOccurrences(of: "{name}", with: name(input))
    }

    static func name(_ input: String) -> String { URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent }

    /// One output per input needs `{name}` once there are several inputs.
    static func requireName(_ flag: String, _ template: String?, inputs: Int, kind: String) throws {
        guard inputs > 1, let t = template, !t.contains("{name}") else { return }
        throw ValidationError("\(flag) needs a {name} placeholder when several \(kind) are given")
    }

    /// The per-input outputs of a template option (none when the option is unset).
    static func perInput(_ flag: String, _ template: String?, inputs: [String]) -> [Output] {
        guard let t = template else { return [] }
        return inputs.map { Output(flag: flag, path: expand(t, for: $0), template: t, input: t.contains("{name}") ? $0 : nil) }
    }

    /// Refuses outputs that are directories, that would overwrite an input (links and hard links
    /// resolved by device and inode) or another output (same file after `{name}` expansion).
    static func check(_ outputs: [Output], inputs: [(what: String, path: String)]) throws {
        let inputInodes = inputs.compactMap { i in PathIdentity.inode(i.path).map { ($0, i) } }
        var seen: [String: Output] = [:]
        var seenInodes: [PathIdentity.Inode: Output] = [:]
        for o in outputs {
            if PathIdentity.isDirectory(o.path) { throw RunError("\(o.flag) \(o.path): is a directory") }
            let node = PathIdentity.inode(o.path)
            if let node, let hit = inputInodes.first(where: { $0.0 == node }) {
                throw RunError("\(o.flag) \(o.path) is the \(hit.1.what) \(hit.1.path): refusing to overwrite an input")
            }
            let key = PathIdentity.target(o.path)
            if let prev = seen[key] ?? node.flatMap({ seenInodes[$0] }) { throw RunError(collision(prev, o)) }
            seen[key] = o
            if let node { seenInodes[node] = o }
        }
    }

    static func collision(_ a: Output, _ b: Output) -> String {
        if a.flag == b.flag, let t = a.template, let va = a.input, let vb = b.input {
            return "\(a.flag) \(t) gives the same file \(b.path) for \(va) and \(vb) "
                + "(both named \(name(vb))): rename one of them or process them in separate runs"
        }
        return "\(a.flag) \(a.path) and \(b.flag) \(b.path) are the same file: give each output its own path"
    }
}
