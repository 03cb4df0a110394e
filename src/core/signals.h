// What the program does when it is asked to stop. By default SIGTERM (mpirun ending a job whose
// other rank failed, Slurm's cancel) and SIGINT (Ctrl-C) remove the temporary files being
// written (see AtomicPath) and end the process. Long jobs that can stop cleanly (training)
// call catch_stop_signals(): then SIGTERM and SIGINT only raise a flag the job checks between
// steps, and SIGUSR1 (Slurm's warning before a time limit, `--signal=USR1@120`) asks for a
// checkpoint. A second SIGINT still ends the process at once.
#pragma once
#include <string>

namespace deeplab {

// Temporaries removed if a stop signal ends the process; -1 when the table is full.
int register_temporary(const std::string& path);
void release_temporary(int slot);

void catch_stop_signals();
// The stop signal received since catch_stop_signals() (SIGTERM or SIGINT), or 0.
int stop_signal();
// True once per SIGUSR1 received.
bool take_checkpoint_request();
// Ask for a stop or a checkpoint as a signal would (tests, and a rank told by another).
void request_stop(int signal);

}  // namespace deeplab
