// A Java job (a .jar, native, in the sandbox): counts stock per warehouse
// from its arguments ("warehouse:count" pairs), or from a built-in list.
import java.util.Map;
import java.util.TreeMap;

public class Inventory {
    public static void main(String[] args) {
        String[] items = args.length > 0 ? args : new String[] {"north:12", "south:7", "north:3", "east:20"};
        Map<String, Integer> stock = new TreeMap<>();
        for (String item : items) {
            String[] parts = item.split(":", 2);
            int n = parts.length == 2 ? Integer.parseInt(parts[1]) : 1;
            stock.merge(parts[0], n, Integer::sum);
        }
        stock.forEach((w, n) -> System.out.println(w + ": " + n));
        System.out.println("Java " + System.getProperty("java.version") + ", job " + System.getenv("WEBJOBS_NAME"));
    }
}
