//! Flags made at run time from [`Modality::ALL`](mmbind_modalities::Modality::ALL) (one per
//! modality), where clap's derive would need a field per modality: a type with
//! `fn flags(Command) -> Command` and `fn read(&mut self, &ArgMatches)` becomes usable in a
//! derived command with `#[command(flatten)]` through [`built_flags!`].

/// Implements clap's `Args` and `FromArgMatches` for `$t` from its `flags` and `read`.
macro_rules! built_flags {
    ($t:ty) => {
        impl clap::Args for $t {
            fn augment_args(cmd: clap::Command) -> clap::Command {
                <$t>::flags(cmd)
            }

            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                <$t>::flags(cmd)
            }
        }

        impl clap::FromArgMatches for $t {
            fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
                let mut args = Self::default();
                args.read(matches);
                Ok(args)
            }

            fn update_from_arg_matches(
                &mut self,
                matches: &clap::ArgMatches,
            ) -> Result<(), clap::Error> {
                self.read(matches);
                Ok(())
            }
        }
    };
}

pub(crate) use built_flags;
