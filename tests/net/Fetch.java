// A Java job that fetches each URL given with java.net.http.HttpClient
// (which knows nothing of wasmjobs) and prints what it got.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class Fetch {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(10))
            .build();
        for (String url : args) {
            try {
                HttpResponse<String> r = client.send(
                    HttpRequest.newBuilder(URI.create(url)).build(),
                    HttpResponse.BodyHandlers.ofString());
                System.out.println(url + " -> " + r.statusCode() + " " + r.body());
            } catch (Exception e) {
                System.out.println(url + " -> failed: " + e);
            }
        }
    }
}
