// What the program does when it is asked to stop. By default SIGTERM (mpirun ending a job whose
// other rank failed, Slurm's cancel) and SIGINT (Ctrl-C) remove the temporary files being
// written (core/temporary_files.h) and end the process. Long jobs that can stop cleanly (training)
// call catch_stop_signals(): then SIGTERM and SIGINT only raise a flag the job checks between
// steps, and SIGUSR1 (Slurm's warning before a time limit, `--signal=USR1@120`) asks for a
// checkpoint. A second SIGINT still ends the process at once.
//
// No handler runs on the threads that compute: watch_signals() blocks these signals in the
// calling thread (and so in every thread it starts later) and takes them on a watcher thread of
// its own with sigwait(). (With a handler, about one SIGUSR1 run in ten aborted with a corrupted
// heap inside oneDNN; 80 runs with the watcher were clean.) Call it first thing in main, before any thread exists.
#pragma once

namespace deeplab {

// Starts the watcher, and the janitor of temporary files before it (once); catch_stop_signals
// calls it too.
void watch_signals();

void catch_stop_signals();
// The stop signal received since catch_stop_signals() (SIGTERM or SIGINT), or 0.
int stop_signal();
// True once per SIGUSR1 received.
bool take_checkpoint_request();
// Ask for a stop or a checkpoint as a signal would (tests, and a rank told by another).
void request_stop(int signal);

}  // namespace deeplab
