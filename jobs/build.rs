// `sqlx::migrate!` embeds ../migrations at compile time; without this a new migration file
// would not rebuild the crate, and tests would run the old list.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
