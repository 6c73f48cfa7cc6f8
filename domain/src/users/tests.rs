use super::*;
use chrono::TimeZone;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0).unwrap()
}

fn hash(tag: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$argon2id$v=19${tag}"))
}

fn input(name: &str, email: &str, bio: Option<&str>) -> NewUser {
    NewUser {
        name: UserName::parse(name).unwrap(),
        email: Email::parse(email).unwrap(),
        password: Password::parse("correct horse").unwrap(),
        bio: bio.map(|b| Bio::parse(b).unwrap()),
    }
}

fn stored() -> User {
    User {
        id: UserId::parse(7).unwrap(),
        name: UserName::parse("Ann").unwrap(),
        email: Email::parse("ann@example.com").unwrap(),
        bio: Some(Bio::parse("hello").unwrap()),
        password_hash: hash("old"),
        is_admin: false,
        created_at: at(1),
        updated_at: at(2),
    }
}

#[test]
fn ids_must_be_positive() {
    assert_eq!(UserId::parse(1).unwrap().get(), 1);
    assert_eq!(UserId::parse(0).unwrap_err().code, "id_not_positive");
    assert_eq!(UserId::parse(-5).unwrap_err().code, "id_not_positive");
}

#[test]
fn name_has_one_to_hundred_characters() {
    assert!(UserName::parse("A").is_ok());
    assert!(UserName::parse(&"n".repeat(100)).is_ok());
    assert_eq!(UserName::parse("").unwrap_err().code, "string_too_short");
    assert_eq!(
        UserName::parse(&"n".repeat(101)).unwrap_err().code,
        "string_too_long"
    );
}

#[test]
fn password_has_eight_to_128_characters() {
    assert!(Password::parse("12345678").is_ok());
    assert!(Password::parse(&"p".repeat(128)).is_ok());
    assert_eq!(
        Password::parse("1234567").unwrap_err().code,
        "string_too_short"
    );
    assert_eq!(
        Password::parse(&"p".repeat(129)).unwrap_err().code,
        "string_too_long"
    );
}

#[test]
fn password_never_shows_in_debug_output() {
    let password = Password::parse("hunter2hunter2").unwrap();
    assert!(!format!("{password:?}").contains("hunter2"));
    assert!(!format!("{:?}", hash("secret-phc")).contains("secret-phc"));
}

#[test]
fn bio_may_be_empty_and_has_at_most_2000_characters() {
    assert!(Bio::parse("").is_ok());
    assert!(Bio::parse(&"b".repeat(2000)).is_ok());
    assert_eq!(
        Bio::parse(&"b".repeat(2001)).unwrap_err().code,
        "string_too_long"
    );
}

#[test]
fn put_on_missing_id_creates_with_that_id() {
    let id = UserId::parse(42).unwrap();
    let (user, outcome) = put_user(
        id,
        None,
        input("Bo", "bo@example.com", None),
        hash("h"),
        at(3),
    );
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(user.id, id);
    assert_eq!(user.created_at, at(3));
    assert_eq!(user.updated_at, at(3));
}

#[test]
fn put_on_existing_user_replaces_it_but_keeps_created_at() {
    let old = stored();
    let (user, outcome) = put_user(
        old.id,
        Some(&old),
        input("Bo", "bo@example.com", None),
        hash("new"),
        at(5),
    );
    assert_eq!(outcome, PutOutcome::Replaced);
    assert_eq!(user.created_at, old.created_at);
    assert_eq!(user.updated_at, at(5));
    assert_eq!(user.name.as_str(), "Bo");
    assert_eq!(user.password_hash, hash("new"));
}

#[test]
fn put_without_bio_clears_the_bio() {
    let old = stored();
    let (user, _) = put_user(
        old.id,
        Some(&old),
        input("Ann", "ann@example.com", None),
        hash("h"),
        at(5),
    );
    assert_eq!(user.bio, None);
}

#[test]
fn empty_patch_changes_nothing_not_even_updated_at() {
    let old = stored();
    let user = UserPatch::default().apply(&old, None, at(9));
    assert_eq!(user, old);
}

#[test]
fn patch_changes_only_the_members_it_names() {
    let old = stored();
    let patch = UserPatch {
        name: Some(UserName::parse("Annie").unwrap()),
        ..UserPatch::default()
    };
    let user = patch.apply(&old, None, at(9));
    assert_eq!(user.name.as_str(), "Annie");
    assert_eq!(user.email, old.email);
    assert_eq!(user.bio, old.bio);
    assert_eq!(user.password_hash, old.password_hash);
    assert_eq!(user.created_at, old.created_at);
    assert_eq!(user.updated_at, at(9));
}

#[test]
fn patch_with_null_bio_clears_it_and_with_a_value_sets_it() {
    let old = stored();
    let cleared = UserPatch {
        bio: Patch::Clear,
        ..UserPatch::default()
    }
    .apply(&old, None, at(9));
    assert_eq!(cleared.bio, None);
    let set = UserPatch {
        bio: Patch::Set(Bio::parse("new").unwrap()),
        ..UserPatch::default()
    }
    .apply(&old, None, at(9));
    assert_eq!(set.bio.unwrap().as_str(), "new");
}

#[test]
fn patch_with_password_takes_the_new_hash() {
    let old = stored();
    let patch = UserPatch {
        password: Some(Password::parse("another password").unwrap()),
        ..UserPatch::default()
    };
    assert!(patch.changes_password());
    let user = patch.apply(&old, Some(hash("fresh")), at(9));
    assert_eq!(user.password_hash, hash("fresh"));
    assert_eq!(user.updated_at, at(9));
}

#[test]
fn patch_setting_the_same_values_is_not_a_change() {
    let old = stored();
    let patch = UserPatch {
        name: Some(old.name.clone()),
        bio: Patch::Set(Bio::parse("hello").unwrap()),
        ..UserPatch::default()
    };
    assert_eq!(patch.apply(&old, None, at(9)).updated_at, old.updated_at);
}

#[test]
fn put_keeps_the_admin_flag_and_creates_non_admins() {
    let mut admin = stored();
    admin.is_admin = true;
    let input = || input("A", "a@example.com", None);
    let (replaced, _) = put_user(admin.id, Some(&admin), input(), hash("h"), at(5));
    assert!(replaced.is_admin);
    let (created, _) = put_user(UserId::parse(8).unwrap(), None, input(), hash("h"), at(5));
    assert!(!created.is_admin);
}

#[test]
fn the_last_admin_cannot_be_deleted() {
    let mut admin = stored();
    admin.is_admin = true;
    let last = DeletionFacts {
        user: admin.clone(),
        other_admins: 0,
        funded_accounts: 0,
    };
    assert!(matches!(check_deletion(&last), Err(Error::LastAdmin)));
    let one_of_two = DeletionFacts {
        user: admin,
        other_admins: 1,
        funded_accounts: 0,
    };
    assert!(check_deletion(&one_of_two).is_ok());
    let plain = DeletionFacts {
        user: stored(),
        other_admins: 0,
        funded_accounts: 0,
    };
    assert!(check_deletion(&plain).is_ok());
}

#[test]
fn a_user_who_owns_money_cannot_be_deleted() {
    let funded = DeletionFacts {
        user: stored(),
        other_admins: 0,
        funded_accounts: 1,
    };
    assert!(matches!(check_deletion(&funded), Err(Error::UserHasFunds)));
}

#[test]
fn put_repeating_the_password_keeps_the_checked_hash() {
    let user = stored();
    let kept = PasswordChoice::Keep(user.password_hash.clone()).resolve(Some(&user));
    assert_eq!(kept.unwrap(), user.password_hash);
    let set = PasswordChoice::Set(hash("new")).resolve(Some(&user));
    assert_eq!(set.unwrap(), hash("new"));
}

#[test]
fn put_whose_checked_password_changed_before_the_write_is_a_conflict() {
    let mut user = stored();
    let checked = user.password_hash.clone();
    user.password_hash = hash("changed meanwhile");
    let raced = PasswordChoice::Keep(checked.clone()).resolve(Some(&user));
    assert!(matches!(raced, Err(Error::Conflict(_))));
    let gone = PasswordChoice::Keep(checked).resolve(None);
    assert!(matches!(gone, Err(Error::Conflict(_))));
}
