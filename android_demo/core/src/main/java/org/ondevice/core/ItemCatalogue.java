package org.ondevice.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A recommender's items file: model index -> movieId, title, genres
 * ({@code index,movieId,title,genres}, CSV with a header, as pipeline/data/movielens.py writes
 * it). Row 0 is padding and row 1 out-of-vocabulary, with an empty movieId.
 *
 * <pre>{@code
 * ItemCatalogue items = ItemCatalogue.readCsv(in, "items.csv");
 * int index = items.indexOf(260);        // model index of "Star Wars: Episode IV" (or OOV = 1)
 * items.item(index).title;
 * items.search("star wars", 20);         // for a searchable list
 * }</pre>
 */
public final class ItemCatalogue {
    public static final int PAD = 0;
    public static final int OOV = 1;

    /** One row of the items file. */
    public static final class Item {
        public final int index;
        /** -1 for the padding and out-of-vocabulary rows. */
        public final long movieId;
        public final String title;
        /** Genres as the file has them, e.g. "Action|Adventure|Sci-Fi". */
        public final String genres;

        Item(int index, long movieId, String title, String genres) {
            this.index = index;
            this.movieId = movieId;
            this.title = title;
            this.genres = genres;
        }

        @Override
        public String toString() {
            return movieId + " " + title;
        }
    }

    private final List<Item> items;
    private final Map<Long, Integer> indexOfMovie;

    public ItemCatalogue(List<Item> items) {
        this.items = Collections.unmodifiableList(new ArrayList<>(items));
        this.indexOfMovie = new HashMap<>(items.size() * 2);
        for (Item item : items) {
            if (item.movieId >= 0) {
                indexOfMovie.put(item.movieId, item.index);
            }
        }
    }

    /** Builds a catalogue from movieIds in model order (index 2, 3, ...), without titles. */
    public static ItemCatalogue ofMovieIds(long[] movieIds) {
        List<Item> items = new ArrayList<>();
        items.add(new Item(PAD, -1, "[PAD]", ""));
        items.add(new Item(OOV, -1, "[OOV]", ""));
        for (int i = 0; i < movieIds.length; i++) {
            items.add(new Item(i + 2, movieIds[i], "", ""));
        }
        return new ItemCatalogue(items);
    }

    /** @throws ModelMismatchException naming {@code source} when a row is malformed */
    public static ItemCatalogue readCsv(InputStream in, String source)
            throws IOException, ModelMismatchException {
        String text = new String(WordPieceTokenizer.readAll(in), StandardCharsets.UTF_8);
        List<List<String>> rows = Csv.parse(text);
        if (rows.isEmpty() || !rows.get(0).equals(List.of("index", "movieId", "title", "genres"))) {
            throw new ModelMismatchException(source + ": header must be index,movieId,title,genres");
        }
        List<Item> items = new ArrayList<>();
        for (int r = 1; r < rows.size(); r++) {
            List<String> row = rows.get(r);
            if (row.size() != 4) {
                throw new ModelMismatchException(source + ": row " + (r + 1) + " has "
                        + row.size() + " fields, expected 4");
            }
            try {
                int index = Integer.parseInt(row.get(0));
                if (index != items.size()) {
                    throw new ModelMismatchException(source + ": row " + (r + 1) + " has index "
                            + index + ", expected " + items.size());
                }
                long movieId = row.get(1).isEmpty() ? -1 : Long.parseLong(row.get(1));
                items.add(new Item(index, movieId, row.get(2), row.get(3)));
            } catch (NumberFormatException e) {
                throw new ModelMismatchException(source + ": row " + (r + 1)
                        + " has a non-numeric index or movieId");
            }
        }
        return new ItemCatalogue(items);
    }

    /** Number of rows = length of the model's score vector. */
    public int size() {
        return items.size();
    }

    public Item item(int index) {
        return items.get(index);
    }

    /** Model index of a movieId; {@link #OOV} when it is not in the catalogue. */
    public int indexOf(long movieId) {
        Integer index = indexOfMovie.get(movieId);
        return index == null ? OOV : index;
    }

    /** Items whose title contains every word of {@code query} (case-insensitive), in model order. */
    public List<Item> search(String query, int limit) {
        String[] words = query.toLowerCase(Locale.ROOT).trim().split("\\s+");
        List<Item> out = new ArrayList<>();
        for (int i = 2; i < items.size() && out.size() < limit; i++) {
            String title = items.get(i).title.toLowerCase(Locale.ROOT);
            boolean all = true;
            for (String w : words) {
                if (!title.contains(w)) {
                    all = false;
                    break;
                }
            }
            if (all) {
                out.add(items.get(i));
            }
        }
        return out;
    }

    /** RFC 4180 CSV as Python's csv module writes it (quotes doubled, \r\n or \n line ends). */
    static final class Csv {
        private Csv() {}

        static List<List<String>> parse(String text) {
            List<List<String>> rows = new ArrayList<>();
            List<String> row = new ArrayList<>();
            StringBuilder field = new StringBuilder();
            boolean quoted = false;
            boolean any = false;
            int i = 0;
            int n = text.length();
            while (i < n) {
                char c = text.charAt(i);
                if (quoted) {
                    if (c == '"') {
                        if (i + 1 < n && text.charAt(i + 1) == '"') {
                            field.append('"');
                            i++;
                        } else {
                            quoted = false;
                        }
                    } else {
                        field.append(c);
                    }
                } else if (c == '"') {
                    quoted = true;
                    any = true;
                } else if (c == ',') {
                    row.add(field.toString());
                    field.setLength(0);
                    any = true;
                } else if (c == '\r' || c == '\n') {
                    if (any || field.length() > 0) {
                        row.add(field.toString());
                        rows.add(row);
                    }
                    row = new ArrayList<>();
                    field.setLength(0);
                    any = false;
                    if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') {
                        i++;
                    }
                } else {
                    field.append(c);
                    any = true;
                }
                i++;
            }
            if (any || field.length() > 0) {
                row.add(field.toString());
                rows.add(row);
            }
            return rows;
        }
    }
}
