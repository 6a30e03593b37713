using System.Reflection;
using System.Reflection.Emit;
using EmbeddingKit.Postgres.Rollout;
using EmbeddingKit.Postgres.Search;
using EmbeddingKit.Postgres.Tests.Architecture;

namespace EmbeddingKit.Postgres.Tests;

/// <summary>
/// The structure the code promises (docs/architecture.md): no namespace cycle between search and rollout — search reads
/// the search models it owns, the rollout changes them through it — and no source file over 500 lines.
/// </summary>
public sealed class ArchitectureTests
{
    private const string SearchNamespace = "EmbeddingKit.Postgres.Search";
    private const string RolloutNamespace = "EmbeddingKit.Postgres.Rollout";
    private const int MaxLines = 500;

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    [Fact]
    public void PostgresAssembly_SearchAndRollout_HaveNoNamespaceCycle()
    {
        var assembly = typeof(EmbeddingSearchService).Assembly;
        var searchToRollout = References(assembly, SearchNamespace, RolloutNamespace);
        var rolloutToSearch = References(assembly, RolloutNamespace, SearchNamespace);

        Assert.True(
            searchToRollout.Count == 0 || rolloutToSearch.Count == 0,
            $"Search -> Rollout: {string.Join(", ", searchToRollout)}\nRollout -> Search: {string.Join(", ", rolloutToSearch)}");
    }

    [Fact]
    public void PostgresAssembly_Search_DoesNotDependOnRollout()
    {
        // The direction chosen: the rollout depends on search (it activates models and saves settings through
        // SearchModelStore); search never needs the rollout. A search-only host resolves no rollout.
        var searchToRollout = References(typeof(EmbeddingSearchService).Assembly, SearchNamespace, RolloutNamespace);

        Assert.Empty(searchToRollout);
        Assert.NotEmpty(References(typeof(EmbeddingRollout).Assembly, RolloutNamespace, SearchNamespace));
    }

    [Fact]
    public void References_TypeUsingAnotherNamespaceInAMethodBodyOnly_IsFound()
    {
        // The scanner itself: a reference that appears only in IL (a local, a call) counts, not just signatures.
        var found = References(typeof(ArchitectureTests).Assembly, typeof(BodyOnlyUser).Namespace!, RolloutNamespace);

        Assert.Contains(found, f => f.Contains(nameof(BodyOnlyUser), StringComparison.Ordinal) && f.Contains(nameof(CoverageTooLowException), StringComparison.Ordinal));
    }

    [Fact]
    public void SourceTree_EveryCsFileInSrc_HasAtMost500Lines()
    {
        var src = Path.Combine(RepositoryRoot(), "src");
        var files = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();

        var tooLong = files.Select(f => (File: Path.GetRelativePath(src, f), Lines: File.ReadLines(f).Count())).Where(f => f.Lines > MaxLines).ToList();

        Assert.NotEmpty(files);
        Assert.True(tooLong.Count == 0, string.Join("\n", tooLong.Select(f => $"{f.File}: {f.Lines} lines")));
    }

    /// <summary>The repository root: the first folder up from the test's location that holds src/ and the solution.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, "src")) && File.Exists(Path.Combine(dir.FullName, "EmbeddingKit.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No folder above {AppContext.BaseDirectory} holds src/ and EmbeddingKit.slnx.");
    }

    /// <summary>"Type -> referenced type" for every type of <paramref name="from"/> (nested and compiler-generated
    /// types included: async state machines and lambdas carry the method bodies) that references a type of
    /// <paramref name="to"/> in a signature, a field, a base type, an attribute-free member or its IL.</summary>
    private static List<string> References(Assembly assembly, string from, string to)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes().Where(t => InNamespace(t, from)))
        {
            foreach (var referenced in ReferencedTypes(type).Where(r => InNamespace(r, to)))
            {
                found.Add($"{type.FullName} -> {referenced.FullName}");
            }
        }

        return [.. found];
    }

    private static bool InNamespace(Type type, string ns) => type.Namespace is { } n && (n == ns || n.StartsWith(ns + ".", StringComparison.Ordinal));

    private static IEnumerable<Type> ReferencedTypes(Type type)
    {
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var types = new List<Type>();
        if (type.BaseType is { } baseType)
        {
            types.Add(baseType);
        }

        types.AddRange(type.GetInterfaces());
        types.AddRange(type.GetFields(All).Select(f => f.FieldType));
        types.AddRange(type.GetProperties(All).Select(p => p.PropertyType));
        types.AddRange(type.GetEvents(All).Select(e => e.EventHandlerType!));
        var methods = type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)).ToList();
        foreach (var method in methods)
        {
            types.AddRange(method.GetParameters().Select(p => p.ParameterType));
            if (method is MethodInfo info)
            {
                types.Add(info.ReturnType);
            }

            if (method.GetMethodBody() is { } body)
            {
                types.AddRange(body.LocalVariables.Select(l => l.LocalType));
                types.AddRange(IlReferences(method, body.GetILAsByteArray() ?? []));
            }
        }

        return types.SelectMany(Expand).Distinct();
    }

    /// <summary>The types an IL body names (calls, field accesses, new objects, casts, typeof).</summary>
    private static IEnumerable<Type> IlReferences(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArguments = method.DeclaringType?.IsGenericType == true ? method.DeclaringType.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var result = new List<Type>();
        for (var i = 0; i < il.Length;)
        {
            var code = il[i] == 0xFE ? s_opCodes[unchecked((short)(0xFE00 | il[i + 1]))] : s_opCodes[il[i]];
            i += code.Size;
            switch (code.OperandType)
            {
                case OperandType.InlineMethod:
                case OperandType.InlineField:
                case OperandType.InlineType:
                case OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, i);
                    try
                    {
                        var member = module.ResolveMember(token, typeArguments, methodArguments);
                        switch (member)
                        {
                            case Type t:
                                result.Add(t);
                                break;
                            case MemberInfo m when m.DeclaringType is { } declaring:
                                result.Add(declaring);
                                if (m is FieldInfo f)
                                {
                                    result.Add(f.FieldType);
                                }
                                else if (m is MethodInfo mi)
                                {
                                    result.Add(mi.ReturnType);
                                    result.AddRange(mi.GetParameters().Select(p => p.ParameterType));
                                }

                                break;
                        }
                    }
                    catch (ArgumentException)
                    {
                        // A token of a generic context this scan cannot supply: its types are in signatures anyway.
                    }

                    i += 4;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + (BitConverter.ToInt32(il, i) * 4);
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineNone:
                    break;
                default:
                    i += 4;
                    break;
            }
        }

        return result;
    }

    /// <summary>A type and what it is built from (array elements, generic arguments, by-ref targets).</summary>
    private static IEnumerable<Type> Expand(Type type)
    {
        yield return type;
        if (type.HasElementType && type.GetElementType() is { } element)
        {
            foreach (var inner in Expand(element))
            {
                yield return inner;
            }
        }

        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            foreach (var inner in type.GetGenericArguments().SelectMany(Expand))
            {
                yield return inner;
            }
        }
    }
}
