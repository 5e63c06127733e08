//! The password rules of the API reference (upper, lower, digit, special, at least 8) plus a maximum length
//! and a refusal of passwords that are common despite meeting the character rules.

use crate::error::{CoreError, Result};

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Long enough for passphrases and password managers, short enough to bound hashing work.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Base words behind most breached passwords that satisfy composition rules ("P@ssw0rd1!", "Welcome2024!").
const COMMON_BASES: &str = include_str!("common_bases.txt");

pub fn check_password_policy(password: &str) -> Result<()> {
    let invalid = |detail: &str| Err(CoreError::invalid("weak_password", detail));
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return invalid("Password must be at least 8 characters long");
    }
    if chars > MAX_PASSWORD_CHARS {
        return invalid("Password must be at most 128 characters long");
    }
    if !password.chars().any(char::is_uppercase) {
        return invalid("Password must contain an uppercase letter");
    }
    if !password.chars().any(char::is_lowercase) {
        return invalid("Password must contain a lowercase letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return invalid("Password must contain a digit");
    }
    if !password.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
        return invalid("Password must contain a special character");
    }
    if is_common(password) {
        return invalid("Password is too common; choose a less predictable one");
    }
    Ok(())
}

/// Undoes the usual decorations (case, leetspeak, trailing digits and symbols, a leading capital) and looks
/// the remaining word up in the list.
fn is_common(password: &str) -> bool {
    let fold = |text: &str| -> String {
        text.chars()
            .map(|c| match c {
                '@' | '4' => 'a',
                '3' => 'e',
                '1' | '!' => 'i',
                '0' => 'o',
                '$' | '5' => 's',
                '7' => 't',
                other => other,
            })
            .collect()
    };
    let trim = |text: &str| -> String {
        text.trim_end_matches(|c: char| !c.is_ascii_alphabetic())
            .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
            .to_owned()
    };
    let lower = password.to_lowercase();
    let core = trim(&fold(&lower));
    // Strip trailing digits before folding too, so "Password2024!" reduces to "password"...
    let undecorated = lower.trim_end_matches(|c: char| !c.is_alphabetic()).to_owned();
    // ...and "P@ssw0rd2024" to "password" (folding first would turn the year's 0 and 4 into letters).
    let leet_undecorated = trim(&fold(&undecorated));
    COMMON_BASES.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).any(|base| {
        core == base || undecorated == base || leet_undecorated == base || core.trim_end_matches('i') == base
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_example_password_is_accepted() {
        check_password_policy("SecureP@ss123").unwrap();
        check_password_policy("NewSecureP@ss123").unwrap();
        check_password_policy("correct Horse battery st4ple!").unwrap();
    }

    #[test]
    fn each_missing_character_class_is_refused_with_weak_password() {
        for bad in ["Sh0rt!", "alllower1!", "ALLUPPER1!", "NoDigits!!", "NoSpecial12", &"Aa1!".repeat(40)] {
            let err = check_password_policy(bad).unwrap_err();
            assert!(matches!(err, CoreError::Invalid { code: "weak_password", .. }), "{bad}");
        }
    }

    #[test]
    fn decorated_common_passwords_are_refused() {
        for bad in [
            "P@ssw0rd1!",
            "Password123!",
            "Welcome2024!",
            "Qwerty123!",
            "Admin@123",
            "Letmein1!",
            "Iloveyou1!",
            "P@ssw0rd2024",
            "W3lc0me2024#",
        ] {
            assert!(check_password_policy(bad).is_err(), "{bad} should be refused");
        }
    }
}
