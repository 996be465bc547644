import ArgumentParser
import CommandSupport
import DeviceMaps
import Foundation

/// Output format of `map validate` and `config validate`.
enum DiagnosticsFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// How `map validate` and `config validate` report: every diagnostic as
/// `file:line:column: severity: message (hint)` on stdout and a summary on stderr, or one JSON
/// document for tools; exit code 1 when there is an error.
struct ValidationOutput {
    let diagnostics: [Diagnostic]
    /// False when any diagnostic is an error.
    let valid: Bool
    /// The summary of a valid result, before the warnings are counted: `3 device(s) valid`.
    let validSummary: String
    /// The JSON report's fields besides `valid` and `diagnostics`.
    let gateway: String?
    let devices: Int

    func print(format: DiagnosticsFormat) throws {
        switch format {
        case .text:
            for diagnostic in diagnostics { Swift.print(diagnostic) }
            let errors = diagnostics.filter { $0.severity == .error }.count
            let warnings = diagnostics.count - errors
            let summary = valid ? validSummary : "\(errors) error(s)"
            // The diagnostics (stdout) before the summary (stderr), also when both go to one pipe.
            fflush(nil)
            FileHandle.standardError.write(Data("\(summary), \(warnings) warning(s)\n".utf8))
        case .json:
            try printJSON(Report(valid: valid, gateway: gateway, devices: devices, diagnostics: diagnostics.map(Record.init)))
        }
        if !valid { throw ExitCode(1) }
    }

    /// `{"valid","gateway","devices","diagnostics"}`; `gateway` only from `config validate`.
    struct Report: Encodable {
        let valid: Bool
        let gateway: String?
        let devices: Int
        let diagnostics: [Record]
    }

    struct Record: Encodable {
        let file: String
        let line: Int
        let column: Int
        let severity: String
        let message: String
        let hint: String?

        init(_ d: Diagnostic) {
            file = d.location.file
            line = d.location.line
            column = d.location.column
            severity = d.severity.rawValue
            message = d.message
            hint = d.hint
        }
    }
}
