using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace FirstSip.EndToEnd.Tests.Infrastructure;

/// <summary>Debian's Chromium, headless, driven through Debian's chromedriver (nothing is downloaded).</summary>
internal sealed class Browser : IDisposable
{
    private const string Chromium = "/usr/bin/chromium";
    private const string ChromeDriver = "/usr/bin/chromedriver";
    private readonly string _profile;

    private Browser(ChromeDriver driver, string profile)
    {
        Driver = driver;
        _profile = profile;
    }

    public ChromeDriver Driver { get; }

    public static Browser Start()
    {
        Assert.True(File.Exists(Chromium) && File.Exists(ChromeDriver),
            "Chromium is not installed: run ./run test (it installs it) or apt-get install chromium chromium-driver");
        var profile = Directory.CreateTempSubdirectory("firstsip-chromium-").FullName;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        // The flags keep Chromium off the network it cannot reach here and out of the root sandbox it cannot use.
        options.AddArguments(
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1280,1000", $"--user-data-dir={profile}");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return new Browser(new ChromeDriver(service, options, TimeSpan.FromSeconds(60)), profile);
    }

    public void Open(Uri address) => Driver.Navigate().GoToUrl(address);

    public void Click(string selector) => Driver.FindElement(By.CssSelector(selector)).Click();

    public void Select(string selector, string value)
    {
        var element = Driver.FindElement(By.CssSelector(selector));
        new SelectElement(element).SelectByValue(value);
    }

    public void WaitFor(Func<IWebDriver, bool> condition, string what, TimeSpan? timeout = null)
    {
        var wait = new WebDriverWait(Driver, timeout ?? TimeSpan.FromSeconds(20)) { Message = $"waiting for {what}" };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        wait.Until(condition);
    }

    public void Screenshot(string path) => Driver.GetScreenshot().SaveAsFile(path);

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // Chromium may still hold a file for a moment; the folder is in the temp directory.
        }
    }
}
