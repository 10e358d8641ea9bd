// The same CPU-bound loop in every language of the suite.
public class Loop {
    public static void main(String[] args) {
        long s = 0;
        for (long i = 0; i < 30000000L; i++) s = (s + i * i) % 1000003;
        System.out.println("loop " + s);
    }
}
