package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/** Input building and post-processing of the recommender, and the items file. */
public class RecommendationsTest {
    static final String ITEMS = "index,movieId,title,genres\r\n0,,[PAD],\r\n1,,[OOV],\r\n"
            + "2,1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n"
            + "3,260,Star Wars: Episode IV - A New Hope (1977),Action|Adventure|Sci-Fi\r\n"
            + "4,1196,\"Star Wars: Episode V - The Empire Strikes Back (1980)\",Action|Adventure|Sci-Fi\r\n"
            + "5,2571,\"Matrix, The (1999)\",Action|Sci-Fi|Thriller\r\n"
            + "6,5000,\"Say \"\"Hi\"\" (2001)\",Comedy\r\n";

    static ItemCatalogue catalogue() throws Exception {
        return ItemCatalogue.readCsv(new ByteArrayInputStream(ITEMS.getBytes(StandardCharsets.UTF_8)), "items.csv");
    }

    @Test
    public void itemsFileIsParsedAsPythonWritesIt() throws Exception {
        ItemCatalogue c = catalogue();
        assertEquals(7, c.size());
        assertEquals("Matrix, The (1999)", c.item(5).title);
        assertEquals("Say \"Hi\" (2001)", c.item(6).title);
        assertEquals(-1, c.item(0).movieId);
        assertEquals(4, c.indexOf(1196));
        assertEquals(ItemCatalogue.OOV, c.indexOf(99999));
        assertEquals(2, c.search("star wars", 10).size());
        assertEquals(1196, c.search("EMPIRE", 10).get(0).movieId);
    }

    @Test
    public void badItemsFileIsRefused() {
        String bad = "index,movieId,title,genres\n0,,[PAD],\n2,5,x,y\n";
        ModelMismatchException e = assertThrows(ModelMismatchException.class, () -> ItemCatalogue.readCsv(
                new ByteArrayInputStream(bad.getBytes(StandardCharsets.UTF_8)), "items.csv"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("items.csv: row 3 has index 2, expected 1"));
    }

    @Test
    public void inputIsTheTailLeftPadded() throws Exception {
        Recommendations r = new Recommendations(catalogue(), 4);
        assertArrayEquals(new int[] {0, 0, 2, 3}, r.buildInput(Arrays.asList(1L, 260L)));
        assertArrayEquals(new int[] {3, 1, 4, 5}, r.buildInput(Arrays.asList(1L, 260L, 42L, 1196L, 2571L)));
        assertArrayEquals(new int[] {0, 0, 0, 0}, r.buildInput(List.of()));
    }

    @Test
    public void topKExcludesHistoryPadAndOovWithTiesToLowerIndex() throws Exception {
        Recommendations r = new Recommendations(catalogue(), 2);
        float[] scores = {9f, 9f, 1f, 5f, 3f, 3f, 3f};
        // 260 (index 3) liked long ago, outside the last 2: still excluded.
        List<Long> liked = Arrays.asList(260L, 1L, 2571L);
        assertArrayEquals(new int[] {4, 6}, r.topIndices(scores, liked, 10));
        assertEquals(1196, r.topK(scores, liked, 1).get(0).movieId);
        float[] ties = {0f, 0f, 2f, 2f, 2f, 2f, 2f};
        assertArrayEquals(new int[] {2, 3, 4}, r.topIndices(ties, List.of(), 3));
        assertThrows(IllegalArgumentException.class, () -> r.topIndices(new float[3], liked, 1));
    }
}
