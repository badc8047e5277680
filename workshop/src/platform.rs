//! The runner's operating-system specific code, in one place. Empty until the doctor's
//! branch lands: nothing else in the runner depends on the operating system.
