-- What the thumbnail job learns about an image: its size after EXIF orientation, a ThumbHash
-- placeholder and its dominant colour (`#rrggbb`), for clients to show before any thumbnail loads.
alter table media add column width integer;
alter table media add column height integer;
alter table media add column thumbhash text;
alter table media add column dominant_color text;
