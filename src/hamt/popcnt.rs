//! The `popcnt` runtime dispatch of the trie walks.
//!
//! The x86-64 baseline has no `popcnt` instruction, and `count_ones` then costs about 20
//! instructions a level. Where the CPU has it (detected once, cached by std), a walk runs in a
//! copy of its body compiled with it. Each walk (`get_walk`, `inserted`, `insert_mut`,
//! `removed`, `remove_mut`) is one body, `*_impl::<P, ..>`, whose const `P` says which copy it
//! is compiled into; [`popcnt_dispatch!`] generates the functions around it:
//!
//! - the entry point, which detects the feature and calls one of the two copies;
//! - `*_popcnt`, the body compiled with `#[target_feature(enable = "popcnt")]` (`P = true`);
//! - `*_soft`, the body as compiled for the target (`P = false`), out of line on the x86-64
//!   baseline so that the entry point's fast path stays small: inlined, it made the caller
//!   spill registers around the call to the `popcnt` copy, about 2 ns a lookup;
//! - for the recursive walks, `*_rec::<P, ..>`, the call one level down: the `popcnt` copy stays
//!   in the `popcnt` copy without detecting again.
//!
//! Where the target already has `popcnt` (or is not x86-64), the entry point calls `*_soft`,
//! which is then inlined like any small function, and no `popcnt` copy is compiled.

/// Generates a walk's entry point, its `popcnt` and target copies and, given `rec`, its
/// one-level-down call, around the body `$imp::<P, $consts.., $types..>` (see the module doc).
///
/// The generics are written `[lifetimes; const bool parameters; type parameters]` and the
/// where-clause in brackets.
macro_rules! popcnt_dispatch {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident[$($lt:lifetime),*; $($c:ident),*; $($t:ident),*]
            ($($arg:ident: $argty:ty),* $(,)?) -> $ret:ty
        where [$($bound:tt)*]
        => $imp:ident, $popcnt:ident, $soft:ident, $rec:ident;
    ) => {
        popcnt_dispatch! {
            $(#[$attr])*
            $vis fn $name[$($lt),*; $($c),*; $($t),*]($($arg: $argty),*) -> $ret
            where [$($bound)*]
            => $imp, $popcnt, $soft;
        }

        /// One level down: the `popcnt` copy stays in the `popcnt` copy.
        #[inline]
        fn $rec<$($lt,)* const P: bool, $(const $c: bool,)* $($t),*>($($arg: $argty),*) -> $ret
        where
            $($bound)*
        {
            #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
            if P {
                // SAFETY: `P` is true only in the body as compiled into the `popcnt` copy, which
                // runs only where the CPU has `popcnt`.
                return unsafe { $popcnt::<$($c,)* $($t),*>($($arg),*) };
            }
            $soft::<$($c,)* $($t),*>($($arg),*)
        }
    };
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident[$($lt:lifetime),*; $($c:ident),*; $($t:ident),*]
            ($($arg:ident: $argty:ty),* $(,)?) -> $ret:ty
        where [$($bound:tt)*]
        => $imp:ident, $popcnt:ident, $soft:ident;
    ) => {
        $(#[$attr])*
        #[inline]
        $vis fn $name<$($lt,)* $(const $c: bool,)* $($t),*>($($arg: $argty),*) -> $ret
        where
            $($bound)*
        {
            #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
            if std::is_x86_feature_detected!("popcnt") {
                // SAFETY: the only obligation of a `target_feature` function is that the CPU has
                // the feature, which was just checked.
                return unsafe { $popcnt::<$($c,)* $($t),*>($($arg),*) };
            }
            $soft::<$($c,)* $($t),*>($($arg),*)
        }

        /// The body compiled with `popcnt`.
        ///
        /// # Safety
        /// The CPU supports `popcnt`.
        #[cfg(all(target_arch = "x86_64", not(target_feature = "popcnt")))]
        #[target_feature(enable = "popcnt")]
        unsafe fn $popcnt<$($lt,)* $(const $c: bool,)* $($t),*>($($arg: $argty),*) -> $ret
        where
            $($bound)*
        {
            $imp::<true, $($c,)* $($t),*>($($arg),*)
        }

        /// The body as compiled for the target, out of line on the x86-64 baseline.
        #[cfg_attr(
            all(target_arch = "x86_64", not(target_feature = "popcnt")),
            inline(never)
        )]
        fn $soft<$($lt,)* $(const $c: bool,)* $($t),*>($($arg: $argty),*) -> $ret
        where
            $($bound)*
        {
            $imp::<false, $($c,)* $($t),*>($($arg),*)
        }
    };
}

pub(crate) use popcnt_dispatch;
