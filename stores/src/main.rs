//! `statestore`: list the store types of this build and poke at a store by hand.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
