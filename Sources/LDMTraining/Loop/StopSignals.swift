import Foundation

/// The signal that asked the run to stop (0: none); set by the handlers, polled by the loop after every step.
nonisolated(unsafe) private var requestedStop: sig_atomic_t = 0

/// SIGINT (Ctrl-C) and SIGTERM handlers for the duration of a run: either asks the loop to stop after the current
/// step, so the last checkpoint stays valid; the previous handlers come back when the run ends.
final class StopSignals {
    private static let handled = [SIGINT, SIGTERM]
    private var previous: [Int32: sigaction] = [:]

    init() {
        requestedStop = 0
        // A parent may have spawned us with the signals blocked (test runners do); unblock them for the handlers.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for signal in Self.handled { sigaddset(&unblock, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for signal in Self.handled {
            var action = sigaction(), old = sigaction()
            action.__sigaction_handler.sa_handler = { requestedStop = $0 }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, &old)
            previous[signal] = old
        }
    }

    /// The signal received since the handlers went in, if any.
    var received: Int32? { requestedStop == 0 ? nil : Int32(requestedStop) }

    deinit {
        for (signal, old) in previous {
            var action = old
            sigaction(signal, &action, nil)
        }
    }
}
