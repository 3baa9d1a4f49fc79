using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Serving.Gateway.Supervision;

/// <summary>
/// How the gateway checks the certificates of remote workers served over HTTPS (<c>serve --tls-cert --tls-key</c>):
/// the system's trust store, or, with <c>Gateway:Workers:RemoteCaFile</c>, only the certificates that chain to that
/// PEM file (a private CA, or a worker's self-signed certificate). The host name must match either way.
/// </summary>
public static class WorkerTls
{
    /// <summary>The validation callback for the gateway's connections to workers; null = the platform default.</summary>
    public static RemoteCertificateValidationCallback? Validation(string? caFile)
    {
        if (caFile is null)
        {
            return null;
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        return (_, certificate, _, errors) => Trusted(roots, certificate, errors);
    }

    public static bool Trusted(X509Certificate2Collection roots, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var presented = new X509Certificate2(certificate);
        return chain.Build(presented);
    }

    /// <summary>The reason a CA file cannot be used, or null.</summary>
    public static string? Check(string caFile)
    {
        try
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            return roots.Count == 0 ? $"{caFile} holds no PEM certificate" : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            return e.Message;
        }
    }
}
