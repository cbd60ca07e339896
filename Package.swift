// swift-tools-version: 6.0
import PackageDescription

// mod_swiftwsgi: the Swift host behind the Apache module in apache/.
//
// Targets:
//   CPython       system library: libpython (pkg-config python3-embed: Debian's 3.11, or the one
//                 the Makefile generates for `make PYTHON=...`) plus a
//                 shim header of static-inline helpers for the C API's macros.
//   CSwiftWSGI    the one header shared with the C shim in apache/ (the whole C <-> Swift ABI).
//   PythonHost    the only Swift module that imports CPython: references, GIL, interpreters,
//                 and the WSGI objects (wsgi.input, wsgi.errors, start_response, file_wrapper).
//   Telemetry     mod_wsgi 6.1's telemetry (WSGITelemetryService): its datagram format, the
//                 per-thread request counters and the sender thread. No Python, no Apache.
//   CSystemShims  C-library macros Swift cannot import (SCM_RIGHTS control messages).
//   SwiftWSGIExpress  swiftwsgi-express: serves a .wsgi file through a generated private Apache.
//   SwiftWSGI     the host library loaded by mod_swiftwsgi.so: @_cdecl exports, config checks,
//                 and daemon mode (the daemon processes' server and the Apache children's proxy).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "mod_swiftwsgi",
    products: [
        .library(name: "swiftwsgi", type: .dynamic, targets: ["SwiftWSGI"]),
        .executable(name: "swiftwsgi-express", targets: ["SwiftWSGIExpress"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CPython", pkgConfig: "python3-embed"),
        .target(name: "CSwiftWSGI"),
        .target(name: "CSystemShims"),
        .target(name: "Telemetry", swiftSettings: swiftSettings),
        .target(name: "PythonHost", dependencies: ["CPython", "CSwiftWSGI", "Telemetry"], swiftSettings: swiftSettings),
        .target(
            name: "SwiftWSGI",
            dependencies: ["PythonHost", "CSwiftWSGI", "CSystemShims"],
            swiftSettings: swiftSettings,
            linkerSettings: [
                // Apache unloads and reloads modules at every restart; a Swift image must never be
                // unloaded (its conformance records stay registered in the runtime).
                .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "nodelete"]),
            ]
        ),
        .executableTarget(
            name: "SwiftWSGIExpress",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SwiftWSGITests", dependencies: ["SwiftWSGI", "PythonHost", "SwiftWSGIExpress", "Telemetry"], swiftSettings: swiftSettings),
    ]
)

// Fuzz targets (make fuzz; Tests/fuzz/README.md): declared only when SWIFTWSGI_FUZZ is set, so
// `make` and `swift test` never build them. They link libFuzzer (-sanitize=fuzzer) and reach
// the host's internals with @testable import (the fuzz build adds -enable-testing).
if Context.environment["SWIFTWSGI_FUZZ"] != nil {
    package.targets.append(.executableTarget(
        name: "WireProtocolFuzzer",
        dependencies: ["SwiftWSGI", "PythonHost", "CSwiftWSGI"],
        path: "Tests/fuzz/WireProtocolFuzzer",
        swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
    ))
}
