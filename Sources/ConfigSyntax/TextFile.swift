import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the text of an input file, saying in a few words why it cannot: Foundation's own
/// sentences ("The operation could not be completed. The file doesn't exist.") name neither
/// the file nor, often, the problem.
package enum TextFile {
    /// Why a file could not be read: a short phrase (`no such file`) and, when it helps, how
    /// to fix it.
    package struct Problem: Error, Sendable, Hashable {
        package var reason: String
        package var hint: String?

        /// `cannot read the <what>: <reason>`.
        package func message(reading what: String) -> String { "cannot read the \(what): \(reason)" }
    }

    /// The permission bits of `path` when users other than its owner may read or write it
    /// (a secret's file: a key, a token), else nil; nil also when it cannot be looked at
    /// (reading it will say why).
    package static func sharedMode(_ path: String) -> UInt32? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = UInt32(info.st_mode) & 0o777
        return mode & 0o077 != 0 ? mode : nil
    }

    /// The file's content as UTF-8 text.
    package static func read(_ path: String) -> Result<String, Problem> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(problem(errno: errno)) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
            return .failure(Problem(reason: "it is a folder, not a file", hint: "name the YAML file itself"))
        }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            return .failure(Problem(reason: "read failed: \((error as NSError).localizedDescription)"))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(Problem(reason: "it is not UTF-8 text"))
        }
        return .success(text)
    }

    private static func problem(errno code: Int32) -> Problem {
        switch code {
        case ENOENT: return Problem(reason: "no such file")
        case EACCES: return Problem(reason: "permission denied", hint: "the file or a folder on its path is not readable by this user")
        case ENOTDIR: return Problem(reason: "no such file (a part of its path is not a folder)")
        default: return Problem(reason: String(cString: strerror(code)).lowercased())
        }
    }

    /// The diagnostic for a file that cannot be read: `path: error: cannot read the <what>: <reason>`.
    package static func diagnostic(_ problem: Problem, path: String, what: String) -> Diagnostic {
        Diagnostic(
            severity: .error, location: SourceLocation(file: path, line: 0, column: 0),
            message: problem.message(reading: what), hint: problem.hint)
    }
}
